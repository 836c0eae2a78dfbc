"""Cues written as srt, vtt, ass (Advanced SubStation Alpha) and lrc.

Each file is strict enough for picky players: cues in order and never overlapping, no cue
arrow or blank line inside a cue's text, markup characters escaped. Where the task labelled
speakers, srt and lrc put `SPEAKER_00: ` before a cue's text, vtt a `<v SPEAKER_00>` voice span,
and ass the event's Name field.

With `highlight_words`, every cue repeats once per word, each repeat lasting from its word's
start until the next word's, with that word underlined (`<u>` in srt and vtt); ass instead
times each word of one event with `{\\k}` karaoke tags, and lrc with the word times of
enhanced LRC (`<mm:ss.xx>`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

from decoder.wire.transcript import Transcript
from whisper_api.outputs.subtitles.layout import Cue, LabelWidth, layout, no_label
from whisper_api.outputs.subtitles.style import SubtitleStyle

SUBTITLE_FORMATS: dict[str, str] = {
    "srt": "application/x-subrip",
    "vtt": "text/vtt",
    "ass": "text/x-ssa; charset=utf-8",
    "lrc": "text/plain; charset=utf-8",
}


def write_subtitles(transcript: Transcript, fmt: str, style: SubtitleStyle) -> str:
    """The transcript as a subtitle file of `fmt`, one of SUBTITLE_FORMATS."""
    writer, label_width = _WRITERS[fmt]
    return writer(layout(transcript, style, label_width), style)


def _labelled(speaker: str | None) -> int:
    return len(_label(speaker))


def _label(speaker: str | None) -> str:
    """The speaker before a cue's text (srt, lrc), on one line; "" where there is none."""
    return f"{without_arrows(' '.join(speaker.split()))}: " if speaker else ""


def _srt(cues: list[Cue], style: SubtitleStyle) -> str:
    blocks = []
    for number, (start, end, lines, speaker) in enumerate(
        _shown(cues, style, "<u>", "</u>", without_arrows), 1
    ):
        text = "".join(f"{line}\n" for line in lines)
        blocks.append(f"{number}\n{_clock(start, ',')} --> {_clock(end, ',')}\n{_label(speaker)}{text}")
    return "\n".join(blocks)


def _vtt(cues: list[Cue], style: SubtitleStyle) -> str:
    blocks = []
    for start, end, lines, speaker in _shown(cues, style, "<u>", "</u>", _vtt_escape):
        # A voice annotation ends at ">" and may not hold a line break.
        voice = f"<v {_vtt_markup(' '.join(speaker.split())).replace('>', '&gt;')}>" if speaker else ""
        text = "".join(f"{line}\n" for line in lines)
        blocks.append(f"{_clock(start, '.')} --> {_clock(end, '.')}\n{voice}{text}")
    return "WEBVTT\n\n" + "\n".join(blocks)


# A script a player shows at any size: white text with a black outline, centred at the bottom;
# karaoke fills each word from the secondary colour (yellow) to the primary.
_ASS_HEADER = """[Script Info]
; Written by whisper-api
ScriptType: v4.00+
PlayResX: 1920
PlayResY: 1080
WrapStyle: 2
ScaledBorderAndShadow: yes

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, \
Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, \
Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
Style: Default,Arial,64,&H00FFFFFF,&H0000FFFF,&H00000000,&H80000000,0,0,0,0,100,100,0,0,1,3,0,2,\
60,60,50,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
"""


def _ass(cues: list[Cue], style: SubtitleStyle) -> str:
    events = []
    for cue in cues:
        start, end = _centiseconds(cue.start_ms), _centiseconds(cue.end_ms)
        if style.highlight_words:
            marks = iter(_karaoke_marks(cue))
            text = "\\N".join(
                " ".join(f"{{\\k{next(marks)}}}{_ass_escape(token.text)}" for token in line)
                for line in cue.lines
            )
        else:
            text = "\\N".join(_ass_escape(line) for line in cue.text_lines)
        name = _ass_escape(" ".join((cue.speaker or "").split())).replace(",", " ")
        events.append(f"Dialogue: 0,{_ass_clock(start)},{_ass_clock(end)},Default,{name},0,0,0,,{text}\n")
    return _ASS_HEADER + "".join(events)


def _karaoke_marks(cue: Cue) -> list[int]:
    """Each word's `\\k` duration in centiseconds: from its start (the first from the cue's) until
    the next word's start (the last until the cue's end), summing to the cue's length."""
    starts = [_centiseconds(at) for at in _word_starts(cue)] + [_centiseconds(cue.end_ms)]
    return [max(0, b - a) for a, b in itertools.pairwise(starts)]


def _lrc(cues: list[Cue], style: SubtitleStyle) -> str:
    lines = ["[re:whisper-api]\n"]
    for index, cue in enumerate(cues):
        if style.highlight_words:
            text = " ".join(
                f"<{_lrc_clock(at)}>{_lrc_text(token.text)}"
                for token, at in zip(cue.tokens, _word_starts(cue), strict=True)
            )
        else:
            text = " ".join(_lrc_text(line) for line in cue.text_lines)
        lines.append(f"[{_lrc_clock(cue.start_ms)}]{_lrc_text(_label(cue.speaker))}{text}\n")
        following = cues[index + 1].start_ms if index + 1 < len(cues) else None
        # LRC has no end times: an empty line clears the cue where silence follows it.
        if following is None or _centiseconds(following) > _centiseconds(cue.end_ms):
            lines.append(f"[{_lrc_clock(cue.end_ms)}]\n")
    return "".join(lines)


def _shown(
    cues: list[Cue], style: SubtitleStyle, open_mark: str, close_mark: str, escape: Callable[[str], str]
) -> Iterator[tuple[int, int, list[str], str | None]]:
    """(start, end, lines, speaker) of each cue on screen: the cue, or with highlight_words one
    repeat per word with that word marked; a word squeezed to no time by a held cue is skipped."""
    for cue in cues:
        if not style.highlight_words:
            yield cue.start_ms, cue.end_ms, [escape(line) for line in cue.text_lines], cue.speaker
            continue
        starts = [*_word_starts(cue), cue.end_ms]
        for index, (start, end) in enumerate(itertools.pairwise(starts)):
            if end <= start:
                continue
            lines, position = [], 0
            for line in cue.lines:
                words = []
                for token in line:
                    word = escape(token.text)
                    words.append(f"{open_mark}{word}{close_mark}" if position == index else word)
                    position += 1
                lines.append(" ".join(words))
            yield start, end, lines, cue.speaker


def _word_starts(cue: Cue) -> list[int]:
    """When each word of the cue is marked: its own start, held within the cue and in order, the
    first at the cue's start."""
    starts, at = [], cue.start_ms
    for position, token in enumerate(cue.tokens):
        at = cue.start_ms if position == 0 else min(cue.end_ms, max(at, token.start_ms))
        starts.append(at)
    return starts


def without_arrows(line: str) -> str:
    """The text with no cue arrow left in it, which would end an srt or vtt cue's timing line."""
    # Looped because one pass turns "--->" into "-->" again.
    while "-->" in line:
        line = line.replace("-->", "->")
    return line


def _vtt_escape(line: str) -> str:
    return _vtt_markup(without_arrows(line))


def _vtt_markup(text: str) -> str:
    # WebVTT cue text reads "&" and "<" as markup, so literal ones must be character references.
    return text.replace("&", "&amp;").replace("<", "&lt;")


def _ass_escape(text: str) -> str:
    # Braces open and close override blocks, and a backslash starts a tag: none may reach a player.
    return text.replace("\\", "/").replace("{", "(").replace("}", ")")


def _lrc_text(text: str) -> str:
    # A "[" or "<" would read as a time tag.
    return text.replace("[", "(").replace("]", ")").replace("<", "(").replace(">", ")")


def _clock(milliseconds: int, decimal_mark: str) -> str:
    hours, rest = divmod(milliseconds, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{decimal_mark}{millis:03d}"


def _centiseconds(milliseconds: int) -> int:
    # Rounded down, as every time of a file alike, so that cues in order stay in order.
    return milliseconds // 10


def _ass_clock(centiseconds: int) -> str:
    hours, rest = divmod(centiseconds, 360_000)
    minutes, rest = divmod(rest, 6000)
    seconds, hundredths = divmod(rest, 100)
    return f"{hours:d}:{minutes:02d}:{seconds:02d}.{hundredths:02d}"


def _lrc_clock(milliseconds: int) -> str:
    minutes, rest = divmod(_centiseconds(milliseconds), 6000)
    seconds, hundredths = divmod(rest, 100)
    return f"{minutes:02d}:{seconds:02d}.{hundredths:02d}"


_WRITERS: dict[str, tuple[Callable[[list[Cue], SubtitleStyle], str], LabelWidth]] = {
    "srt": (_srt, _labelled),
    "vtt": (_vtt, no_label),
    "ass": (_ass, no_label),
    "lrc": (_lrc, _labelled),
}
