import { parsePythonTree } from '../../localisation/index.js';

/** A tree-sitter node as far as this module reads it. */
interface Node {
  type: string;
  text: string;
  childCount: number;
  children: Node[];
}

/**
 * Python source re-printed from its parse tree: the leaf tokens (whole strings kept as written)
 * joined by single spaces, comments dropped. Two programs that differ only in layout or comments
 * print the same; `None` when the text does not parse (its raw text, whitespace-collapsed, is used).
 */
export function reprintPython(text: string): string | undefined {
  const tree = parsePythonTree(text);
  if (tree.rootNode.hasError) return undefined;
  const tokens: string[] = [];
  const walk = (node: Node) => {
    if (node.type === 'comment') return;
    // A string is one token: its quotes and content are the program's, whatever tree-sitter splits them into.
    if (node.childCount === 0 || node.type === 'string') {
      if (node.text.trim()) tokens.push(node.text);
      return;
    }
    for (const child of node.children) walk(child);
  };
  walk(tree.rootNode as unknown as Node);
  return tokens.join(' ');
}

/** The files a change leaves, as (path, text after); a deleted file has empty text. */
export interface ChangedFile {
  path: string;
  after: string;
}

/**
 * What a candidate changes, normalised: each touched file as it reads after the change, re-printed
 * from its parse (Agentless compares patches the same way, through Python's ast). Candidates with
 * equal keys are the same fix written differently.
 */
export function normalisedChange(files: readonly ChangedFile[]): string {
  return [...files]
    .sort((a, b) => a.path.localeCompare(b.path))
    .map((f) => `${f.path}\u0000${(f.path.endsWith('.py') ? reprintPython(f.after) : undefined) ?? f.after.replace(/\s+/g, ' ').trim()}`)
    .join('\u0001');
}

/** A reproduction test normalised the same way, so the same test written twice judges once. */
export function normalisedTest(content: string): string {
  return reprintPython(content) ?? content.replace(/\s+/g, ' ').trim();
}
