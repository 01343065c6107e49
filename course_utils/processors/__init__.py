"""One class per dial: the transforms the chain applies to the logits, in the order it applies them.

Before temperature, the stage every library runs on the raw logits (`history`): the masks
(`AllowedTokenIds`, and `ConstraintMask`: a grammar's, with state of its own), `LogitBias`,
the repetition penalties (`RepetitionPenalty` and `OpenAIPenalties`, or `LlamaCppPenalties`),
`NoRepeatNGram`, `MinNewTokens` and llama.cpp's `DRY`. Then `Temperature` and the truncation dials
`TopK`, `TopP`, `MinP` (`truncation`) and the samplers beyond them (`samplers`): `TypicalP`,
`EpsilonCutoff`, `EtaCutoff`, `TopNSigma`, `XTC`, in the order of ``transformers`` or of
``llama.cpp``; or `Mirostat`, which replaces the truncation dials.

`course_utils.chain.SamplingConfig` builds the list from the dials' values; `Processor` (in
`base`) is the shape every dial has: docs/adding-a-dial.md shows how to add one.
"""

from course_utils.processors.base import (
    NO_HISTORY, History, Processor, check_histories, check_logits,
)
from course_utils.processors.history import (
    AllowedTokenIds, ConstraintMask, LlamaCppPenalties, LogitBias, MinNewTokens, NoRepeatNGram, OpenAIPenalties, RepetitionPenalty,
)
from course_utils.processors.samplers import DRY, XTC, EpsilonCutoff, EtaCutoff, Mirostat, TopNSigma, TypicalP
from course_utils.processors.truncation import MinP, Temperature, TopK, TopP

__all__ = [
    "AllowedTokenIds", "ConstraintMask", "DRY", "EpsilonCutoff", "EtaCutoff", "History", "LlamaCppPenalties", "LogitBias", "MinNewTokens", "MinP", "Mirostat", "NO_HISTORY",
    "NoRepeatNGram", "OpenAIPenalties", "Processor", "RepetitionPenalty", "Temperature", "TopK", "TopNSigma", "TopP", "TypicalP", "XTC",
    "check_histories", "check_logits",
]
