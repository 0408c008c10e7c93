"""`python -m training KIND [options]`: train or fine-tune the face, voice, text or fusion model."""

from __future__ import annotations

import sys

from training.cli import main

sys.exit(main())
