import type Parser from 'tree-sitter';

type Node = Parser.SyntaxNode;

/** Nodes that open a new name scope in Python. */
const SCOPE_TYPES = new Set(['function_definition', 'class_definition', 'lambda', 'module']);

/** A name bound in a scope and the line (1-based) of its binding. */
export interface Binding {
  name: string;
  line: number;
  /** The identifier node that binds it. */
  node: Node;
}

/** The scopes around a position (1-based line, 0-based column of the code on it), innermost first, ending with the module. */
export function scopesAt(tree: Parser.Tree, line: number, column: number): Node[] {
  const row = line - 1;
  const chain: Node[] = [];
  let node: Node | null = tree.rootNode.descendantForPosition({ row, column });
  while (node) {
    if (SCOPE_TYPES.has(node.type) && node.startPosition.row <= row && node.endPosition.row >= row) chain.push(node);
    node = node.parent;
  }
  if (chain.length === 0 || chain[chain.length - 1]!.type !== 'module') chain.push(tree.rootNode);
  // A class body is not visible from the methods inside it (Python's rule), only from itself.
  return chain.filter((scope, i) => i === 0 || scope.type !== 'class_definition');
}

/** Identifier nodes under a target of an assignment (names, tuples, lists, starred). */
function targetNames(node: Node | null, out: Node[]): void {
  if (!node) return;
  if (node.type === 'identifier') out.push(node);
  else if (
    [
      'pattern_list',
      'tuple_pattern',
      'list_pattern',
      'tuple',
      'list',
      'list_splat_pattern',
      'parenthesized_expression',
      'expression_list',
    ].includes(node.type)
  ) {
    for (const child of node.namedChildren) targetNames(child, out);
  } else if (node.type === 'list_splat') targetNames(node.namedChildren[0] ?? null, out);
}

/** The names an import statement binds (`import a.b` binds `a`; `as x` binds `x`). */
export function importBindings(node: Node): Node[] {
  const out: Node[] = [];
  const items = node.type === 'import_statement' ? node.namedChildren : node.childrenForFieldName('name');
  for (const item of items) {
    if (item.type === 'aliased_import') {
      const alias = item.childForFieldName('alias');
      if (alias) out.push(alias);
    } else if (item.type === 'dotted_name') {
      const first = item.namedChildren[0];
      if (first && node.type === 'import_statement') out.push(first);
      else if (node.type === 'import_from_statement')
        out.push(item.namedChildren[item.namedChildren.length - 1] ?? item);
    }
  }
  return out;
}

/** Parameter names of a function or lambda. */
function parameterNames(scope: Node): Node[] {
  const params = scope.childForFieldName('parameters');
  const out: Node[] = [];
  for (const p of params?.namedChildren ?? []) {
    if (p.type === 'identifier') out.push(p);
    else {
      const name = p.childForFieldName('name') ?? p.namedChildren.find((c) => c.type === 'identifier');
      if (name?.type === 'identifier') out.push(name);
    }
  }
  return out;
}

/** Every binding made directly in a scope (nested functions and classes bind only their own name). */
export function scopeBindings(scope: Node): Binding[] {
  const found: Node[] = scope.type === 'module' ? [] : parameterNames(scope);
  const walk = (node: Node) => {
    for (const child of node.namedChildren) {
      switch (child.type) {
        case 'function_definition':
        case 'class_definition': {
          const name = child.childForFieldName('name');
          if (name) found.push(name);
          for (const d of child.namedChildren.filter((c) => c.type === 'decorator')) walk(d);
          continue;
        }
        case 'lambda':
          continue;
        case 'assignment':
        case 'augmented_assignment':
          targetNames(child.childForFieldName('left'), found);
          break;
        case 'for_statement':
        case 'for_in_clause':
          targetNames(child.childForFieldName('left'), found);
          break;
        case 'named_expression':
          targetNames(child.childForFieldName('name'), found);
          break;
        case 'as_pattern': {
          const alias = child.childForFieldName('alias');
          if (alias) for (const id of alias.descendantsOfType('identifier')) found.push(id);
          break;
        }
        case 'except_clause': {
          // `except E as name:` (tree-sitter-python ≥0.23 puts the name after an `as` token).
          const kids = child.children;
          const asAt = kids.findIndex((k) => k.type === 'as');
          if (asAt >= 0 && kids[asAt + 1]?.type === 'identifier') found.push(kids[asAt + 1]!);
          break;
        }
        case 'import_statement':
        case 'import_from_statement':
          found.push(...importBindings(child));
          continue;
        case 'global_statement':
        case 'nonlocal_statement':
          found.push(...child.namedChildren.filter((c) => c.type === 'identifier'));
          continue;
      }
      walk(child);
    }
  };
  const body = scope.type === 'module' ? scope : scope.childForFieldName('body');
  if (body) walk(body);
  return found.map((node) => ({ name: node.text, line: node.startPosition.row + 1, node }));
}

/** Whether an identifier node is a reference to a variable (not an attribute, keyword or definition name). */
export function isReference(node: Node): boolean {
  const parent = node.parent;
  if (!parent) return false;
  if (parent.type === 'attribute' && parent.childForFieldName('attribute')?.id === node.id) return false;
  if (parent.type === 'keyword_argument' && parent.childForFieldName('name')?.id === node.id) return false;
  if (
    (parent.type === 'function_definition' || parent.type === 'class_definition') &&
    parent.childForFieldName('name')?.id === node.id
  )
    return false;
  if (['dotted_name', 'aliased_import', 'import_prefix', 'relative_import'].includes(parent.type)) return false;
  if (
    ['parameters', 'default_parameter', 'typed_parameter', 'typed_default_parameter', 'lambda_parameters'].includes(
      parent.type,
    )
  )
    return false;
  return true;
}

/** References to `name` inside a node (its nested scopes included). */
export function referencesIn(scope: Node, name: string): Node[] {
  return scope.descendantsOfType('identifier').filter((n) => n.text === name && isReference(n));
}

/** The top-level import statements of a module, in order. */
export function topLevelImports(tree: Parser.Tree): Node[] {
  return tree.rootNode.namedChildren.filter((c) => c.type === 'import_statement' || c.type === 'import_from_statement');
}
