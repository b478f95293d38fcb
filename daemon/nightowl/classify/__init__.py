"""Classifiers that judge what a file really is (fake lossless, content type)."""
