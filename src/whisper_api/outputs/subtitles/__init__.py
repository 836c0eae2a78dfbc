"""Subtitle files: the limits a file keeps (style.py), a transcript laid out as cues that keep
them (layout.py), and the cues written as srt, vtt, ass or lrc (writers.py)."""
