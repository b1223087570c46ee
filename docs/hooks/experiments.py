"""MkDocs hook: the study folders of ``experiments/`` join the site, so a page links a study as the repository does.

Each study's README.md becomes its folder's page and its plots, result files and scripts are served beside it;
``mkdocs build --strict`` then checks every link into them. Nothing is copied into ``docs/``.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File, Files

FOLDER = "experiments"


def on_files(files: Files, config) -> Files:
    root = Path(config.config_file_path).parent
    for path in sorted((root / FOLDER).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            files.append(File(path.relative_to(root).as_posix(), str(root), config.site_dir, config.use_directory_urls))
    return files
