import ora from 'ora';

/** What a command shows while it waits: a spinner on a terminal, plain lines elsewhere. */
export interface Progress {
  /** Replaces the waiting text (on a terminal only: in a log each change would be a line). */
  update(text: string): void;
  succeed(text: string): void;
  fail(text: string): void;
}

/**
 * A spinner on a terminal; in a log or a pipe one plain line when the wait begins and one when it
 * ends, with no colours, symbols or redraws (ora would still print "- text" and a coloured ✔).
 */
export function startProgress(text: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (stream.isTTY) {
    const spinner = ora({ text, stream }).start();
    return {
      update: (next) => void (spinner.text = next),
      succeed: (done) => void spinner.succeed(done),
      fail: (why) => void spinner.fail(why),
    };
  }
  stream.write(`${text}\n`);
  return {
    update: () => undefined,
    succeed: (done) => void stream.write(`${done}\n`),
    fail: (why) => void stream.write(`${why}\n`),
  };
}
