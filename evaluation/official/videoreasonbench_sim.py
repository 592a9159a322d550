"""VideoReasonBench planning questions (no ground truth): the official move simulation, quirks included.

Reproduced from llyx97/video_reason_bench @07d2644 (``eval_api.py`` ``evaluate_operation`` and
``utils/eval_utils.py`` ``eval_op_*`` / ``get_next_*`` / ``extract_tgt_*``). Pure functions: the
judge call that extracts the moves from a response lives in the adapter.

- Start state (``start_state``): the recorded state at index 0 when ``visible_time`` is "end", else the
  last one; grid also takes the circle's coordinate from ``coords``; file_sys keeps one ``(label,
  files)`` entry of ``states[pathK]`` per path, card/chip one list per ``pileK``/``cupK``
  (K < ``num_state``).
- Reply reading (``read_reply``): the official ``eval``s the judge reply; here ``ast.literal_eval``
  (a Python literal: list, tuple ...), failure -> None (the official's False). hrd/grid lower-case the
  items. file_sys is not evaluated: ``reply.strip('`').replace('bash\\n', '').split(' & ')``.
- hrd: each move swaps the blank (first 0, row by row) with its neighbour: "up" row-1, "down" row+1,
  but "left" column **+1** and "right" column **-1**; an unknown move or one off the board is skipped.
  Target ``(L,D): n`` from the question, row ``L`` counted from the bottom (a = last row), column
  ``D-1``.
- grid: every item must be left/right/up/down (else wrong); the circle at ``(x, y)`` steps
  (left x-1, right x+1, up y-1, down y+1) and flips ``board[y][x]`` and its in-board orthogonal
  neighbours; a step off the board is skipped (the circle stays). Target ``(L,D): black|white`` ->
  ``board[L][D]`` (a=0, digits 0-4).
- cup: each item ``(p, q)`` swaps ``board[row][col]`` of ``p`` and ``q`` read from their first two
  characters (a-e -> row 0-4, 1-5 -> column 0-4); a malformed, unmapped or off-board pair leaves the
  board unchanged. Target: the listed coordinates hold 1.
- file_sys: one or two commands, each starting with ``rm -rf`` or ``touch`` and holding ``{a,b}``
  (names split on "," without stripping); the last rm set and the last touch set must not overlap.
  ``rm``/``touch``/``cp``/``mv`` act on the first ``pathN`` (cp/mv copy or move the listed files
  present in the first path to the second); the result is the last entry of the target path's
  command-keyed history (a command equal to an existing key updates it in place). Compared as sets.
- card: "add|remove <card> <to|from> pile0|pile1", the card one of the 52; add appends, remove must
  name the pile's first card. The pile list is compared with the question's top-to-bottom list as is
  (the recorded piles run bottom to top, so the official check wants the reversed order).
- chip: "add|remove <value> ... cup0|cup1", value in 5/10/20/50/100; add appends, remove drops the
  first equal chip (must be present). Compared as lists, so order matters although the question says
  it does not.

An empty move list is wrong. Where the official script would raise on the model's moves (and stop the
run), the answer scores wrong here; a question without a parsable target raises ``ValueError``.
"""

from __future__ import annotations

import ast
import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any

PLANNING_DOMAINS = ("card", "chip", "cup", "file_sys", "grid", "hrd")
CARDS = frozenset(
    f"{value} of {suit}"
    for value in ["Ace", *map(str, range(2, 11)), "Jack", "Queen", "King"]
    for suit in ("Hearts", "Clubs", "Diamonds", "Spades")
)
CHIPS = (5, 10, 20, 50, 100)
GRID_STEPS = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
_LETTER = {c: i for i, c in enumerate("abcde")}
_CUP_COORD = {**_LETTER, **{str(i + 1): i for i in range(5)}}
_GRID_COORD = {**_LETTER, **{str(i): i for i in range(5)}}
_BRACES = re.compile(r"\{([^}]+)\}")
_PATH = re.compile(r"path\d+")


# ------------------------------------------------------------------------------------ record state
def start_state(domain: str, row: Mapping[str, Any]) -> dict[str, Any] | None:
    """The state ``evaluate_operation`` simulates from (JSON-friendly), or None when the official record
    fields it needs (``states``, grid's ``coords``, ``visible_time``, ``num_state``) are absent."""
    states, visible = row.get("states"), row.get("visible_time")
    if states is None or visible is None:
        return None
    pick = 0 if visible == "end" else -1
    try:
        if domain in ("hrd", "cup"):
            return {"board": copy.deepcopy(states[pick])}
        if domain == "grid":
            if row.get("coords") is None:
                return None
            return {"board": copy.deepcopy(states[pick]), "coord": list(row["coords"][pick])}
        n = int(row["num_state"])
        if domain == "file_sys":
            entries = {p: list(states[p].items())[pick] for p in (f"path{i}" for i in range(n))}
            return {"paths": {p: [label, list(files)] for p, (label, files) in entries.items()}}
        prefix = {"card": "pile", "chip": "cup"}[domain]
        return {"piles": {f"{prefix}{i}": list(states[f"{prefix}{i}"][pick]) for i in range(n)}}
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as err:
        raise ValueError(f"{domain} record: malformed states for the planning simulation ({err!r})") from None


# ------------------------------------------------------------------------------------ reply reading
def read_reply(domain: str, reply: str) -> Any:
    """The moves in the extraction judge's reply as the official reads them; None on a parse failure."""
    if domain == "file_sys":
        return reply.strip("`").replace("bash\n", "").split(" & ")
    try:
        value = ast.literal_eval(reply)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    if domain in ("hrd", "grid"):  # [m.lower() for m in eval(moves)]
        try:
            items = list(value)
        except TypeError:
            return None
        if not all(isinstance(m, str) for m in items):
            return None
        return [m.lower() for m in items]
    return value


# ------------------------------------------------------------------------------------ targets
def _find(pattern: str, question: str, what: str) -> str:
    m = re.search(pattern, question)
    if m is None:
        raise ValueError(f"planning question without {what} (pattern {pattern!r})")
    return m.group(1)


def _size(pattern: str, question: str) -> tuple[int, int]:
    m = re.search(pattern, question)
    if m is None:
        raise ValueError(f"planning question without a board size (pattern {pattern!r})")
    return int(m.group(1)), int(m.group(2))


def target(domain: str, question: str) -> Any:
    """The target state the question asks for (``extract_tgt_*``); raises ``ValueError`` when absent."""
    try:
        return _TARGETS[domain](question)
    except (KeyError, IndexError) as err:
        raise ValueError(f"{domain} planning question: unreadable target ({err!r})") from None


def _target_hrd(question: str) -> list[list[int]]:
    cells = _find(r"the desired number arrangement:\s*`([^`]+)`", question, "a target arrangement")
    rows, cols = _size(r"on a (\d+)x(\d+) board", question)
    coord = {c: rows - 1 - i for c, i in _LETTER.items()} | {str(i + 1): i for i in range(5)}
    board = [[0] * cols for _ in range(rows)]
    for cell in cells.split(", "):
        where, num = cell.split(": ")
        parts = where.strip("()").split(",")
        board[coord[parts[0]]][coord[parts[1]]] = int(num)
    return board


def _target_grid(question: str) -> list[list[int]]:
    cells = _find(r"the desired arrangement of black and white pieces:\s*`([^`]+)`", question, "a target")
    rows, cols = _size(r"presents a (\d+)x(\d+) grid", question)
    board = [[0] * cols for _ in range(rows)]
    for cell in cells.split(", "):
        where, color = cell.split(": ")
        parts = where.strip("()").split(",")
        board[_GRID_COORD[parts[0]]][_GRID_COORD[parts[1]]] = 1 if color == "black" else 0
    return board


def _target_cup(question: str) -> list[list[int]]:
    cells = _find(r"achieve the desired distribution of coins:\s*`([^`]+)`", question, "a target")
    rows, cols = _size(r"puzzle on a (\d+)x(\d+) board", question)
    board = [[0] * cols for _ in range(rows)]
    for cell in cells.split(", "):
        board[_CUP_COORD[cell[0]]][_CUP_COORD[cell[1]]] = 1
    return board


def _owner(question: str) -> str:
    return _find(r"to ensure that\s*`([^`]+)` contains exactly", question, "the target path/pile/cup")


def _target_files(question: str) -> tuple[str, set[str]]:
    files = _find(r"contains exactly the following files:\s*`([^`]+)`", question, "target files")
    return _owner(question), set(files.split(", "))


def _target_cards(question: str) -> tuple[str, list[str]]:
    cards = _find(r"contains exactly the following cards from top to bottom:\s*`([^`]+)`", question, "cards")
    return _owner(question), cards.split(", ")


def _target_chips(question: str) -> tuple[str, list[int]]:
    chips = _find(r"contains exactly the following chips:\s*`([^`]+)`", question, "target chips")
    return _owner(question), [int(c) for c in chips.split(", ")]


_TARGETS = {
    "hrd": _target_hrd,
    "grid": _target_grid,
    "cup": _target_cup,
    "file_sys": _target_files,
    "card": _target_cards,
    "chip": _target_chips,
}


# ------------------------------------------------------------------------------------ one step
def hrd_step(board: list[list[int]], move: str) -> tuple[list[list[int]], bool]:
    """``get_next_board_hrd``: the board after ``move`` and whether it was applied."""
    n = len(board)
    bi, bj = next((i, j) for i in range(n) for j in range(n) if board[i][j] == 0)
    offsets = {"up": (-1, 0), "down": (1, 0), "left": (0, 1), "right": (0, -1)}
    if move not in offsets:
        return board, False
    ti, tj = bi + offsets[move][0], bj + offsets[move][1]
    if not (0 <= ti < n and 0 <= tj < n):
        return board, False
    new = copy.deepcopy(board)
    new[bi][bj], new[ti][tj] = new[ti][tj], new[bi][bj]
    return new, True


def grid_step(
    board: list[list[int]], coord: Sequence[int], move: str
) -> tuple[list[list[int]] | None, tuple]:
    """``get_next_board_grid``: (new board, new coordinate), or (None, old coordinate) off the board."""
    n = len(board)
    x, y = coord[0] + GRID_STEPS[move][0], coord[1] + GRID_STEPS[move][1]
    if not (0 <= x < n and 0 <= y < n):
        return None, tuple(coord)
    new = copy.deepcopy(board)
    for cx, cy in ((x, y), (x, y - 1), (x, y + 1), (x - 1, y), (x + 1, y)):
        if 0 <= cx < n and 0 <= cy < n:
            new[cy][cx] = 1 - new[cy][cx]
    return new, (x, y)


def cup_step(board: list[list[int]], move: Any) -> list[list[int]]:
    """``get_next_board_cup``: the board with the pair swapped; unchanged when the pair cannot be read."""
    new = copy.deepcopy(board)
    try:
        # the official's format checks only warn, but their len() calls can raise
        _ = len(move) != 2 or len(move[0]) != 2 or len(move[1]) != 2
        r1, c1 = _CUP_COORD.get(move[0][0]), _CUP_COORD.get(move[0][1])
        r2, c2 = _CUP_COORD.get(move[1][0]), _CUP_COORD.get(move[1][1])
        new[r1][c1], new[r2][c2] = new[r2][c2], new[r1][c1]
    except Exception:  # noqa: BLE001 - the official catches everything and keeps the board
        return copy.deepcopy(board)
    return new


def file_sys_result(
    commands: Sequence[str], paths: Mapping[str, Sequence[Any]], target_path: str
) -> set[str]:
    """``get_next_files``: the target path's files after ``commands`` from ``{path: (label, files)}``."""
    history = {p: {label: set(files)} for p, (label, files) in paths.items()}
    current = {p: set(files) for p, (_, files) in paths.items()}
    for cmd in commands:
        files = set(_BRACES.search(cmd).group(1).split(","))
        names = _PATH.findall(cmd)
        if cmd.startswith("rm"):
            current[names[0]] = current[names[0]] - files
        elif cmd.startswith("touch"):
            current[names[0]] = current[names[0]] | files
        elif cmd.startswith("cp"):
            current[names[1]] = current[names[1]] | (files & current[names[0]])
        elif cmd.startswith("mv"):
            moved = files & current[names[0]]
            current[names[0]] = current[names[0]] - moved
            current[names[1]] = current[names[1]] | moved
        for p, entries in history.items():
            entries[cmd] = set(current[p])
    return list(history[target_path].values())[-1]


# ------------------------------------------------------------------------------------ evaluate_operation
def planning_correct(domain: str, question: str, state: Mapping[str, Any], moves: Any) -> bool:
    """Whether ``moves`` (``read_reply``'s value) reach the question's target from ``state``."""
    if domain not in PLANNING_DOMAINS:
        raise ValueError(f"unknown VideoReasonBench domain {domain!r}")
    goal = target(domain, question)
    if not moves:
        return False
    try:
        return bool(_SIMULATE[domain](goal, copy.deepcopy(dict(state)), moves))
    except Exception:  # noqa: BLE001 - the official script would raise here; the answer cannot score
        return False


def _sim_hrd(goal: list, state: dict, moves: Sequence[str]) -> bool:
    board = state["board"]
    for move in moves:
        board, _ = hrd_step(board, move)
    return board == goal


def _sim_grid(goal: list, state: dict, moves: Sequence[str]) -> bool:
    if not all(m in GRID_STEPS for m in moves):
        return False
    board, coord = state["board"], tuple(state["coord"])
    for move in moves:
        new, coord = grid_step(board, coord, move)
        if new is not None:
            board = new
    return board == goal


def _sim_cup(goal: list, state: dict, moves: Any) -> bool:
    board = state["board"]
    for move in moves:
        board = cup_step(board, move)
    return board == goal


def _sim_file_sys(goal: tuple[str, set[str]], state: dict, commands: list[str]) -> bool:
    if len(commands) > 2:  # at most two commands
        return False
    used: dict[str, set[str]] = {"rm": set(), "touch": set()}
    for cmd in commands:
        kind = "rm" if cmd.startswith("rm -rf") else "touch" if cmd.startswith("touch") else None
        m = _BRACES.search(cmd)
        if kind is None or m is None:
            return False
        used[kind] = set(m.group(1).split(","))
    if used["rm"] & used["touch"]:
        return False
    target_path, files = goal
    return file_sys_result(commands, state["paths"], target_path) == files


def _sim_card(goal: tuple[str, list[str]], state: dict, moves: Any) -> bool:
    piles = state["piles"]
    for move in moves:
        if not move.startswith(("add", "remove")) or not move.endswith(("pile0", "pile1")):
            return False
        words = move.split()
        card, action, pile = " ".join(words[1:-2]), words[0], words[-1]
        if card not in CARDS or pile not in piles:
            return False
        if action == "add":
            piles[pile].append(card)
        elif action == "remove":
            if not piles[pile] or card != piles[pile][0]:
                return False
            piles[pile].remove(card)
    pile, cards = goal
    return piles[pile] == cards


def _sim_chip(goal: tuple[str, list[int]], state: dict, moves: Any) -> bool:
    cups = state["piles"]
    for move in moves:
        if not move.startswith(("add", "remove")) or not move.endswith(("cup0", "cup1")):
            return False
        words = move.split()
        if not words[1].isdigit() or int(words[1]) not in CHIPS:
            return False
        chip, action, cup = int(words[1]), words[0], words[-1]
        if action == "add":
            cups[cup].append(chip)
        elif action == "remove":
            if chip not in cups[cup]:
                return False
            cups[cup].remove(chip)
    cup, chips = goal
    return cups[cup] == chips


_SIMULATE = {
    "hrd": _sim_hrd,
    "grid": _sim_grid,
    "cup": _sim_cup,
    "file_sys": _sim_file_sys,
    "card": _sim_card,
    "chip": _sim_chip,
}
