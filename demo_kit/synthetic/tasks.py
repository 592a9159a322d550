"""Known-answer tasks: each draws its media and its ground truth from one seeded RNG, with no I/O.

A task is a pure function ``(rng, ctx) -> TaskSample`` registered by name; the demo dataset writer
round-robins over the registry. Answers follow the EasyVideoR1 conventions the rewards parse: a bare
option letter, a number, ``{"time": [s, e]}`` or ``{"boxes": [x1, y1, x2, y2]}`` as JSON text, yes/no.
``truth`` keeps the generator-side facts (colours, boxes, frame ranges) so tests can check pixels.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from training.registry import Registry

from .render import FLASH, PALETTE, canvas, fill_box, grid_boxes

LETTERS = "ABCD"


@dataclass(frozen=True)
class TaskContext:
    """Frame size (H, W), video fps, and how many samples of this task precede this one in its split."""

    size: tuple[int, int]
    fps: int
    variant: int = 0


@dataclass
class TaskSample:
    """One problem. ``media`` is (H, W, 3) uint8 for an image or (T, H, W, 3) for a video at ctx.fps."""

    problem: str
    problem_type: str
    data_type: str
    answer: str
    options: list[str]
    process: str
    media: np.ndarray
    truth: dict = field(default_factory=dict)


TaskFn = Callable[[np.random.Generator, TaskContext], TaskSample]
TASKS: Registry[TaskFn] = Registry("synthetic task")


def register_task(name: str) -> Callable[[TaskFn], TaskFn]:
    """Register a task under ``name``; duplicate names are rejected."""
    return lambda fn: TASKS.add(name, fn)


def _multiple_choice(rng: np.random.Generator, correct: str, pool: list[str]) -> tuple[list[str], str]:
    """Four shuffled options: ``correct`` plus three others from ``pool``; returns (options, letter)."""
    others = [c for c in pool if c != correct]
    picks = [correct] + [others[int(i)] for i in rng.choice(len(others), size=3, replace=False)]
    order = rng.permutation(4)
    texts = [picks[int(i)] for i in order]
    return [f"{LETTERS[k]}. {t}" for k, t in enumerate(texts)], LETTERS[texts.index(correct)]


def _random_box(rng: np.random.Generator, size: tuple[int, int], side: int) -> tuple[int, int, int, int]:
    h, w = size
    x, y = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
    return x, y, x + side, y + side


@register_task("colour_order")
def colour_order(rng: np.random.Generator, ctx: TaskContext) -> TaskSample:
    """Three squares of distinct colours, one per second, each alone on screen; ask for the k-th."""
    names = [str(c) for c in rng.choice(list(PALETTE), size=3, replace=False)]
    k = int(rng.integers(3))
    ordinal = ("first", "second", "last")[k]
    side = min(ctx.size) // 3
    video = canvas(ctx.size, 3 * ctx.fps)
    for i, name in enumerate(names):
        fill_box(video[i * ctx.fps : (i + 1) * ctx.fps], _random_box(rng, ctx.size, side), PALETTE[name])
    options, letter = _multiple_choice(rng, names[k], list(PALETTE))
    return TaskSample(
        problem=f"Three coloured squares appear one after another. Which colour appears {ordinal}?",
        problem_type="multiple choice",
        data_type="video",
        answer=letter,
        options=options,
        process=f"<think>The squares appear in the order {', '.join(names)}. The {ordinal} one is "
        f"{names[k]}, which is option {letter}.</think>",
        media=video,
        truth={"colours": names, "asked": k},
    )


@register_task("motion_direction")
def motion_direction(rng: np.random.Generator, ctx: TaskContext) -> TaskSample:
    """A square crosses the frame in 2 s in one of four directions."""
    h, w = ctx.size
    direction = ("left", "right", "up", "down")[int(rng.integers(4))]
    side, n = min(h, w) // 5, 2 * ctx.fps
    across = int(rng.integers(0, (w if direction in ("up", "down") else h) - side + 1))
    video = canvas(ctx.size, n)
    for t in range(n):
        frac = t / (n - 1)
        if direction in ("left", "right"):
            x = round((w - side) * (frac if direction == "right" else 1 - frac))
            box = (x, across, x + side, across + side)
        else:
            y = round((h - side) * (frac if direction == "down" else 1 - frac))
            box = (across, y, across + side, y + side)
        fill_box(video[t], box, PALETTE["yellow"])
    options, letter = _multiple_choice(rng, direction, ["left", "right", "up", "down"])
    return TaskSample(
        problem="In which direction does the yellow square move?",
        problem_type="multiple choice",
        data_type="video",
        answer=letter,
        options=options,
        process=f"<think>The square starts near one edge and moves {direction} across the frame, "
        f"so the answer is option {letter}.</think>",
        media=video,
        truth={"direction": direction},
    )


def _static_scene(ctx: TaskContext, img: np.ndarray, as_video: bool) -> np.ndarray:
    """The image itself, or a 2 s video repeating it."""
    return np.repeat(img[None], 2 * ctx.fps, axis=0) if as_video else img


@register_task("object_count")
def object_count(rng: np.random.Generator, ctx: TaskContext) -> TaskSample:
    """1-5 separated squares of random colours; images on even variants, 2 s videos on odd ones."""
    n = int(rng.integers(1, 6))
    boxes = grid_boxes(rng, ctx.size, n)
    img = canvas(ctx.size)
    for box in boxes:
        fill_box(img, box, PALETTE[str(rng.choice(list(PALETTE)))])
    as_video = ctx.variant % 2 == 1
    kind = "video" if as_video else "image"
    return TaskSample(
        problem=f"How many squares are there in the {kind}?",
        problem_type="numerical",
        data_type=kind,
        answer=str(n),
        options=[],
        process=f"<think>I count the separate coloured squares one by one: there are {n}.</think>",
        media=_static_scene(ctx, img, as_video),
        truth={"count": n, "boxes": boxes},
    )


@register_task("event_time")
def event_time(rng: np.random.Generator, ctx: TaskContext) -> TaskSample:
    """A 4-8 s video with a full-frame flash on [s, e), both multiples of 0.5 s, at least 1 s long.

    Frame i (shown at time i / fps) is bright iff s <= i / fps < e, so with an even fps the flash
    is exactly frames s*fps .. e*fps - 1.
    """
    duration = int(rng.integers(4, 9))
    s_half = int(rng.integers(0, 2 * duration - 2 + 1))
    e_half = int(rng.integers(s_half + 2, 2 * duration + 1))
    start, end = s_half / 2, e_half / 2
    video = canvas(ctx.size, duration * ctx.fps)
    fill_box(video, _random_box(rng, ctx.size, min(ctx.size) // 4), PALETTE["blue"])
    first, stop = round(start * ctx.fps), round(end * ctx.fps)
    video[first:stop] = FLASH
    answer = json.dumps({"time": [start, end]})
    return TaskSample(
        problem="A bright flash fills the screen at some point in this video. "
        "When does the flash start and end, in seconds?",
        problem_type="temporal grounding",
        data_type="video",
        answer=answer,
        options=[],
        process=f"<think>The frames turn bright at {start} seconds and go dark again at {end} seconds, "
        f"out of {duration} seconds.</think>",
        media=video,
        truth={"time": [start, end], "frames": [first, stop], "duration": duration},
    )


@register_task("box_location")
def box_location(rng: np.random.Generator, ctx: TaskContext) -> TaskSample:
    """One rectangle of random size and colour; the answer is its box in original-image pixels."""
    h, w = ctx.size
    bw, bh = int(rng.integers(w // 6, w // 2 + 1)), int(rng.integers(h // 6, h // 2 + 1))
    x1, y1 = int(rng.integers(0, w - bw + 1)), int(rng.integers(0, h - bh + 1))
    box = [x1, y1, x1 + bw, y1 + bh]
    name = str(rng.choice(list(PALETTE)))
    img = canvas(ctx.size)
    fill_box(img, tuple(box), PALETTE[name])
    return TaskSample(
        problem=f"Where is the {name} rectangle in this {w}x{h} image? "
        "Give its bounding box as [x1, y1, x2, y2] in pixels.",
        problem_type="spatial grounding",
        data_type="image",
        answer=json.dumps({"boxes": box}),
        options=[],
        process=f"<think>The {name} rectangle's left edge is at x={box[0]}, its right edge at x={box[2]}, "
        f"its top at y={box[1]} and its bottom at y={box[3]}.</think>",
        media=img,
        truth={"box": box, "colour": name},
    )


@register_task("red_present")
def red_present(rng: np.random.Generator, ctx: TaskContext) -> TaskSample:
    """1-3 squares; with probability 1/2 one is red. Videos on even variants, images on odd ones."""
    n = int(rng.integers(1, 4))
    present = bool(rng.random() < 0.5)
    others = [c for c in PALETTE if c != "red"]
    names = [str(rng.choice(others)) for _ in range(n)]
    if present:
        names[int(rng.integers(n))] = "red"
    img = canvas(ctx.size)
    boxes = grid_boxes(rng, ctx.size, n)
    for box, name in zip(boxes, names):
        fill_box(img, box, PALETTE[name])
    as_video = ctx.variant % 2 == 0
    answer = "yes" if present else "no"
    return TaskSample(
        problem="Is there a red square? Answer yes or no.",
        problem_type="boolean",
        data_type="video" if as_video else "image",
        answer=answer,
        options=[],
        process=f"<think>The squares are {', '.join(names)}; {'one' if present else 'none'} of them is "
        f"red.</think>",
        media=_static_scene(ctx, img, as_video),
        truth={"colours": names, "boxes": boxes},
    )


# ---- tasks kept out of the default round-robin ---------------------------------------------------------
# Not in TASKS (``make_demo_dataset``'s default covers exactly the tasks above); named in ``LEARNABLE_TASKS``
# so a dataset can ask for them by name (the demo's ``demo_dataset`` does), or passed as the function itself
# (benchmarks/learning.py).


def red_before_blue(rng: np.random.Generator, ctx: TaskContext) -> TaskSample:
    """Four one-second slots; a red and a blue rectangle each fill one slot, the other two show a rectangle
    of another colour or stay empty; the question asks whether red comes before blue (boolean): yes on
    even variants, no on odd ones, so a split has as many of each.

    Made so that only frame order answers it: swapping the red and blue slots flips the answer and keeps
    the set of frames, so shuffled frames carry no evidence (the premise of T-GRPO). The rectangles are
    large (at least 3/4 of the frame in each dimension: a tiny model learns to see them within a CPU
    budget, which it does not for the small squares above) and change size and place every slot, so no
    two samples are alike.
    """
    h, w = ctx.size
    slots = [int(s) for s in rng.permutation(4)]
    first, second = sorted(slots[:2])
    red, blue = (first, second) if ctx.variant % 2 == 0 else (second, first)  # balanced splits
    others = [c for c in PALETTE if c not in ("red", "blue")]
    names: list[str | None] = [None] * 4
    names[red], names[blue] = "red", "blue"
    for k in slots[2:]:
        pick = int(rng.integers(len(others) + 1))  # one more than there are colours: an empty slot
        names[k] = others[pick] if pick < len(others) else None
    video = canvas(ctx.size, 4 * ctx.fps)
    boxes: list[tuple[int, int, int, int] | None] = []
    for k, name in enumerate(names):
        box = None
        if name is not None:
            bw, bh = int(rng.integers(3 * w // 4, w + 1)), int(rng.integers(3 * h // 4, h + 1))
            x, y = int(rng.integers(0, w - bw + 1)), int(rng.integers(0, h - bh + 1))
            box = (x, y, x + bw, y + bh)
            fill_box(video[k * ctx.fps : (k + 1) * ctx.fps], box, PALETTE[name])
        boxes.append(box)
    before = red < blue
    return TaskSample(
        problem="A red and a blue rectangle each appear for one second. "
        "Does the red rectangle appear before the blue one? Answer yes or no.",
        problem_type="boolean",
        data_type="video",
        answer="yes" if before else "no",
        options=[],
        process=f"<think>The red rectangle is shown in second {red + 1} and the blue one in second "
        f"{blue + 1}, so red comes {'before' if before else 'after'} blue.</think>",
        media=video,
        truth={"slots": names, "boxes": boxes, "red": red, "blue": blue},
    )


# Tasks the tiny demo model learns within a CPU budget (benchmarks/README.md, ``learning.py``).
LEARNABLE_TASKS: dict[str, TaskFn] = {"red_before_blue": red_before_blue}


def task_fn(name: str) -> TaskFn:
    """The task registered as ``name`` in ``TASKS`` or ``LEARNABLE_TASKS``; KeyError otherwise."""
    return TASKS.get(name) if name in TASKS else LEARNABLE_TASKS[name]
