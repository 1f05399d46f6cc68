import { useEffect, useRef, useState } from 'react';
import { Diff2HtmlUI } from 'diff2html/lib/ui/js/diff2html-ui-slim.js';

/** A unified diff rendered by diff2html, syntax-highlighted, as lines or side by side. */
export function DiffView(props: { diff: string; label: string }) {
  const [layout, setLayout] = useState<'line-by-line' | 'side-by-side'>(() =>
    window.innerWidth < 900 ? 'line-by-line' : 'side-by-side',
  );
  const target = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!target.current) return;
    const ui = new Diff2HtmlUI(target.current, props.diff, {
      outputFormat: layout,
      drawFileList: false,
      matching: 'lines',
      highlight: true,
      fileContentToggle: false,
      colorScheme: 'light' as never,
    });
    ui.draw(); // highlights the code too (highlight: true)
  }, [props.diff, layout]);
  if (!props.diff.trim()) return <p className="muted">No diff.</p>;
  return (
    <div className="diff">
      <div className="diff-toolbar" role="group" aria-label={`${props.label}: layout`}>
        <button type="button" aria-pressed={layout === 'line-by-line'} onClick={() => setLayout('line-by-line')}>
          Unified
        </button>
        <button type="button" aria-pressed={layout === 'side-by-side'} onClick={() => setLayout('side-by-side')}>
          Side by side
        </button>
      </div>
      <div ref={target} className="diff-body" />
    </div>
  );
}
