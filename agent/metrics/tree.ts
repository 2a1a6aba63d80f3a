// The metric tree graphite's find answers: the nodes at a query's depth, each a leaf (a series of
// exactly that name), a branch (series go deeper) or both; and the same for several nodes' answers.
import { compileGlobNodes, matchNodes } from './render/index.js';
import type { TreeNode } from './cluster.js';

/** The nodes at the depth of `query` (a glob per path node) among `names`, sorted by path. */
export function treeNodes(names: Iterable<string>, query: string): TreeNode[] {
  const matchers = compileGlobNodes(query);
  const depth = matchers.length;
  const nodes = new Map<string, TreeNode>();
  for (const name of names) {
    const parts = name.split('.');
    if (parts.length < depth) continue;
    const head = parts.slice(0, depth);
    if (!matchNodes(matchers, head)) continue;
    const path = head.join('.');
    let node = nodes.get(path);
    if (!node) nodes.set(path, (node = { path, text: head[depth - 1]!, leaf: false, branch: false }));
    if (parts.length === depth) node.leaf = true;
    else node.branch = true;
  }
  return sortedNodes(nodes.values());
}

/** Several nodes' answers as one: a path is a leaf or a branch if it is one anywhere. */
export function mergeTreeNodes(lists: TreeNode[][]): TreeNode[] {
  const nodes = new Map<string, TreeNode>();
  for (const node of lists.flat()) {
    const kept = nodes.get(node.path);
    if (!kept) nodes.set(node.path, { ...node });
    else {
      kept.leaf ||= node.leaf;
      kept.branch ||= node.branch;
    }
  }
  return sortedNodes(nodes.values());
}

/** The names among `names` that a path expression matches (a glob per path node). */
export function namesMatching(names: Iterable<string>, pattern: string): string[] {
  const matchers = compileGlobNodes(pattern);
  const found: string[] = [];
  for (const name of names) if (matchNodes(matchers, name.split('.'))) found.push(name);
  return found.sort();
}

function sortedNodes(nodes: Iterable<TreeNode>): TreeNode[] {
  return [...nodes].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
