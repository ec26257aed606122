"""An installed app with a static/ folder, found by AppDirectoriesFinder.

Used by tests/test_static_files.py.
"""
