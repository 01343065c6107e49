"""One class per dial: the transforms the chain applies to the logits, in the order it applies them.

Before temperature, the stage every library runs on the raw logits (`history`): the masks
(`AllowedTokenIds`, and `ConstraintMask`: a grammar's, with state of its own), `LogitBias`,
the repetition penalties (`RepetitionPenalty` and `OpenAIPenalties`, or `LlamaCppPenalties`),
`NoRepeatNGram` and `MinNewTokens`. Then `Temperature` and the truncation dials `TopK`, `TopP`,
`MinP` (`truncation`), in the order of ``transformers`` or of ``llama.cpp``.

`course_utils.chain.SamplingConfig` builds the list from the dials' values; `Processor` (in
`base`) is the shape every dial has: docs/adding-a-dial.md shows how to add one.
"""

from course_utils.processors.base import (
    NO_HISTORY, History, Processor, check_histories, check_logits,
)
from course_utils.processors.history import (
    AllowedTokenIds, ConstraintMask, LlamaCppPenalties, LogitBias, MinNewTokens, NoRepeatNGram, OpenAIPenalties, RepetitionPenalty,
)
from course_utils.processors.truncation import MinP, Temperature, TopK, TopP

__all__ = [
    "AllowedTokenIds", "ConstraintMask", "History", "LlamaCppPenalties", "LogitBias", "MinNewTokens", "MinP", "NO_HISTORY",
    "NoRepeatNGram", "OpenAIPenalties", "Processor", "RepetitionPenalty", "Temperature", "TopK", "TopP",
    "check_histories", "check_logits",
]
