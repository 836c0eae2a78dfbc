"""A transcript laid out as subtitle cues that keep a SubtitleStyle's limits.

Words are taken with their times where the transcript has them (whisper's word timestamps), and
otherwise spread over their segment's time by their length. A cue never spans two segments or
two speakers. Within a segment, a cue takes words until the next would break a limit (lines,
reading speed, the longest duration); it is then cut where a reader would cut it: after a
sentence's end, else after clause punctuation, else at the longest pause in the word times,
else before the word that did not fit. Its words are set on the fewest lines the width and
words per line allow, balanced, and broken after punctuation or before a conjunction or
preposition rather than after an article.

Times are whole milliseconds. A cue starts no earlier than its first word, and at least
`min_gap_ms` after the cue before; it ends at its last word's end, held longer where its
minimum duration or its reading speed asks for more, but never past its longest duration.
A cue held past the next one's first word delays that one: speech faster than the reading
speed moves the subtitles later, never their order or their words.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass

from decoder.wire.transcript import Segment, Transcript
from whisper_api.outputs.subtitles.style import SubtitleStyle

# Also the full-width marks of Chinese and Japanese text, and the dashes.
SENTENCE_ENDS = (".", "?", "!", "\u2026", "\u3002", "\uff1f", "\uff01")
CLAUSE_MARKS = (",", ";", ":", "\u2014", "\u2013", "\u3001", "\uff0c")
# A gap in the word times this long is a place to cut a cue.
PAUSE_MS = 300
# English words a line breaks before (conjunctions, prepositions) and never after (articles).
_BREAK_BEFORE = frozenset(
    {
        *("and", "but", "or", "nor", "so", "yet", "because", "although", "though", "while", "when"),
        *("where", "which", "who", "that", "if", "unless", "until", "in", "on", "at", "to", "for"),
        *("with", "from", "of", "by", "about", "into", "over", "after", "before", "under", "through"),
    }
)
_NEVER_AFTER = frozenset({"a", "an", "the"})
# How a place to cut a cue ranks: the higher the better.
_SENTENCE, _CLAUSE, _PAUSE, _ANYWHERE = 3, 2, 1, 0


@dataclass(frozen=True)
class Token:
    """A word as the subtitles show it: no whitespace inside."""

    text: str
    start_ms: int
    end_ms: int
    speaker: str | None
    # The segment it came from: a cue never spans two.
    segment: int


@dataclass(frozen=True)
class Cue:
    start_ms: int
    end_ms: int
    # The cue's words, line by line.
    lines: tuple[tuple[Token, ...], ...]
    speaker: str | None

    @property
    def tokens(self) -> tuple[Token, ...]:
        return tuple(token for line in self.lines for token in line)

    @property
    def text_lines(self) -> tuple[str, ...]:
        return tuple(" ".join(token.text for token in line) for line in self.lines)


# The characters a format puts before a cue's text for its speaker ("SPEAKER_00: " in srt), which
# count in its first line's width and in its reading speed.
LabelWidth = Callable[[str | None], int]


def no_label(_speaker: str | None) -> int:
    return 0


def layout(transcript: Transcript, style: SubtitleStyle, label_width: LabelWidth = no_label) -> list[Cue]:
    groups: list[list[Token]] = []
    for tokens in _runs(tokens_of(transcript)):
        groups.extend(_group(tokens, style, label_width))
    return _timed(groups, style, label_width)


def tokens_of(transcript: Transcript) -> list[Token]:
    tokens: list[Token] = []
    for index, segment in enumerate(transcript.segments):
        tokens.extend(_segment_tokens(index, segment))
    return tokens


def _segment_tokens(index: int, segment: Segment) -> list[Token]:
    texts = segment.text.split()
    timed = _word_times(texts, segment) or _spread(texts, segment)
    return [
        Token(text, start, end, speaker or segment.speaker, index)
        for text, (start, end, speaker) in zip(texts, timed, strict=True)
    ]


def _word_times(texts: list[str], segment: Segment) -> list[tuple[int, int, str | None]] | None:
    """Each word of the text with the times (and speaker) of whisper's words that overlap it,
    matched by their non-space characters, which both share however they are spaced; None where
    the words do not spell the text."""
    spans = []
    offset = 0
    for word in segment.words:
        length = len("".join(word.word.split()))
        if length:
            spans.append((offset, offset + length, word))
            offset += length
    if not spans or "".join("".join(word.word for word in segment.words).split()) != "".join(texts):
        return None
    timed = []
    offset = 0
    for text in texts:
        a, b = offset, offset + len(text)
        offset = b
        inside = [word for start, end, word in spans if start < b and end > a]
        first_ms = _ms(inside[0].start)
        timed.append((first_ms, max(first_ms, _ms(inside[-1].end)), inside[0].speaker))
    return timed


def _spread(texts: list[str], segment: Segment) -> list[tuple[int, int, str | None]]:
    """Each word's share of the segment's time, by its length."""
    total = sum(len(text) for text in texts)
    start, span = segment.start, max(0.0, segment.end - segment.start)
    timed: list[tuple[int, int, str | None]] = []
    done = 0
    for text in texts:
        begin = start + span * done / total
        done += len(text)
        timed.append((_ms(begin), _ms(start + span * done / total), None))
    return timed


def _runs(tokens: list[Token]) -> list[list[Token]]:
    """The tokens in runs that no cue may cross: one segment, one speaker."""
    runs: list[list[Token]] = []
    for token in tokens:
        if runs and (runs[-1][-1].segment, runs[-1][-1].speaker) == (token.segment, token.speaker):
            runs[-1].append(token)
        else:
            runs.append([token])
    return runs


def _group(tokens: list[Token], style: SubtitleStyle, label_width: LabelWidth) -> list[list[Token]]:
    groups: list[list[Token]] = []
    current: list[Token] = []
    for token in tokens:
        current.append(token)
        # A lone word always fits: a word is never cut.
        while len(current) > 1 and not _fits(current, style, label_width):
            cut = _best_cut(current)
            groups.append(current[:cut])
            current = current[cut:]
    if current:
        groups.append(current)
    return groups


def _fits(tokens: list[Token], style: SubtitleStyle, label_width: LabelWidth) -> bool:
    if (
        style.max_line_count is not None
        and len(_greedy_lines(tokens, style, label_width)) > style.max_line_count
    ):
        return False
    longest = style.max_duration_ms
    if longest is None:
        return True
    characters = label_width(tokens[0].speaker) + len(" ".join(token.text for token in tokens))
    return style.reading_ms(characters) <= longest and tokens[-1].end_ms - tokens[0].start_ms <= longest


def _best_cut(tokens: list[Token]) -> int:
    """Where to end the first cue of `tokens` (1 to len - 1): the best-ranked place, the latest of
    those, among the cuts that leave the first cue at least a third of the characters."""
    total = sum(len(token.text) for token in tokens)
    cuts = range(1, len(tokens))
    filled = [cut for cut in cuts if 3 * sum(len(token.text) for token in tokens[:cut]) >= total]
    return max(filled or cuts, key=lambda cut: (_cut_rank(tokens, cut), cut))


def _cut_rank(tokens: list[Token], cut: int) -> int:
    before, after = tokens[cut - 1], tokens[cut]
    if before.text.endswith(SENTENCE_ENDS):
        return _SENTENCE
    if before.text.endswith(CLAUSE_MARKS):
        return _CLAUSE
    if after.start_ms - before.end_ms >= PAUSE_MS:
        return _PAUSE
    return _ANYWHERE


def _greedy_lines(tokens: list[Token], style: SubtitleStyle, label_width: LabelWidth) -> list[list[Token]]:
    """The fewest lines: each takes words while they fit."""
    width, most_words = style.max_line_width, style.max_words_per_line
    lines: list[list[Token]] = [[]]
    length = label_width(tokens[0].speaker) if tokens else 0
    for token in tokens:
        line = lines[-1]
        wider = width is not None and line and length + 1 + len(token.text) > width
        fuller = most_words is not None and len(line) >= most_words
        if wider or fuller:
            lines.append([token])
            length = len(token.text)
        else:
            length += len(token.text) + (1 if line else 0)
            line.append(token)
    return lines


def _balanced_lines(tokens: list[Token], style: SubtitleStyle, label_width: LabelWidth) -> list[list[Token]]:
    """The fewest lines, as even as the width, the words per line and good break points allow."""
    count = len(_greedy_lines(tokens, style, label_width))
    if count == 1:
        return [tokens]
    label = label_width(tokens[0].speaker)
    # Line widths from prefix sums: the words i..j-1 with their spaces.
    ends = [0]
    for token in tokens:
        ends.append(ends[-1] + len(token.text))

    def width(i: int, j: int) -> int:
        return ends[j] - ends[i] + (j - i - 1) + (label if i == 0 else 0)

    def allowed(i: int, j: int) -> bool:
        if style.max_words_per_line is not None and j - i > style.max_words_per_line:
            return False
        return j - i == 1 or style.max_line_width is None or width(i, j) <= style.max_line_width

    n = len(tokens)
    target = width(0, n) / count
    unit = max(1.0, target / 4) ** 2
    infinity = float("inf")
    # best[lines][j]: the least cost of the words before j on that many lines, and where the last began.
    best = [[(infinity, 0)] * (n + 1) for _ in range(count + 1)]
    best[0][0] = (0.0, 0)
    for lines in range(1, count + 1):
        for j in range(1, n + 1):
            for i in range(j):
                before = best[lines - 1][i][0]
                if before == infinity or not allowed(i, j):
                    continue
                cost = before + (target - width(i, j)) ** 2 + (_break_cost(tokens, j) * unit if j < n else 0)
                if cost < best[lines][j][0]:
                    best[lines][j] = (cost, i)
    lines_found: list[list[Token]] = []
    j = n
    for lines in range(count, 0, -1):
        i = best[lines][j][1]
        lines_found.append(tokens[i:j])
        j = i
    return lines_found[::-1]


def _break_cost(tokens: list[Token], j: int) -> float:
    """How bad a line break between tokens[j - 1] and tokens[j] reads."""
    before, after = tokens[j - 1].text, tokens[j].text
    if before.endswith(SENTENCE_ENDS + CLAUSE_MARKS):
        return 0.0
    if before.strip(string.punctuation).lower() in _NEVER_AFTER:
        return 6.0
    if after.strip(string.punctuation).lower() in _BREAK_BEFORE:
        return 1.0
    return 2.0


def _timed(groups: list[list[Token]], style: SubtitleStyle, label_width: LabelWidth) -> list[Cue]:
    cues: list[Cue] = []
    gap = style.min_gap_ms or 0
    longest = style.max_duration_ms
    for tokens in groups:
        start = tokens[0].start_ms
        if cues:
            start = max(start, cues[-1].end_ms + gap)
        characters = label_width(tokens[0].speaker) + len(" ".join(token.text for token in tokens))
        end = max(tokens[-1].end_ms, start + max(style.min_duration_ms, style.reading_ms(characters)))
        if longest is not None:
            end = min(end, start + longest)
        lines = tuple(tuple(line) for line in _balanced_lines(tokens, style, label_width))
        cues.append(Cue(start, max(start, end), lines, tokens[0].speaker))
    return cues


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))
