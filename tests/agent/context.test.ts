import { describe, expect, it } from 'vitest';
import { condense } from '../../agent/nodes/context.js';
import { summarisePython } from '../../localisation/index.js';
import { tokenize } from '../../localisation/tokenize.js';

const SOURCE = [
  'import os',
  '',
  'class Session:',
  '    def request(self, method, url):',
  '        """Send a request."""',
  '        return self.send(method, url)',
  '',
  '    def merge_environment_settings(self, proxies):',
  '        """Merge proxies from the environment."""',
  '        return proxies or os.environ.get("HTTP_PROXY")',
  '',
  'def unrelated_helper():',
  '    return 42',
  '',
].join('\n');

describe('condense', () => {
  const summary = summarisePython('sessions.py', SOURCE);
  it('shows the symbols that share words with the issue in full, with line numbers, and outlines the rest', () => {
    const out = condense(summary, SOURCE, new Set(tokenize('merge_environment_settings ignores proxies')), 10_000);
    expect(out).toContain('    8     def merge_environment_settings(self, proxies):');
    expect(out).toContain('   10         return proxies or os.environ.get("HTTP_PROXY")');
    expect(out).toMatch(/^ {4}3 class Session … \(to line 10\)$/m);
    expect(out).toMatch(/^ {4}4 {5}def request … \(to line 6\)$/m);
    expect(out).toMatch(/^ {3}12 def unrelated_helper … \(to line 13\)$/m);
  });
  it('keeps to its budget, falling back to outlines', () => {
    const out = condense(summary, SOURCE, new Set(tokenize('merge environment proxies')), 10);
    expect(out).not.toContain('return proxies');
    expect(out).toMatch(/def merge_environment_settings … \(to line 10\)/);
  });
});
