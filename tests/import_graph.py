"""Finding import circles in a ``{module: imported modules}`` graph (the house-rule tests build the graph)."""

from __future__ import annotations

from collections.abc import Iterable


def import_cycles(graph: dict[str, Iterable[str]]) -> list[list[str]]:
    """Import circles found by a depth-first walk, each as the path that closes it (empty: none)."""
    cycles, state = [], dict.fromkeys(graph, 0)  # 0 new, 1 on the path, 2 done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif state.get(nxt) == 0:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for module in sorted(graph):
        if state[module] == 0:
            visit(module, [module])
    return cycles
