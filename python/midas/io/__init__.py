"""Readers and writers of upstream MIDAS file formats."""
