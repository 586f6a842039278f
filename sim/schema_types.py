"""What scenario and fault models share: a strict frozen base model and the annotated field types."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from sim import codes

PositiveTime = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
CodeRef = Annotated[int | str, Field(description="a catalog code: name, short name, decimal or 0x hex")]
MessageName = Annotated[str, Field(min_length=1, description="a message name such as MM3 or QM1; * for any")]


class Strict(BaseModel):
    """A model that refuses unknown keys and cannot change once made."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def catalog_code(value: Any) -> int:
    """A catalog code from a name, decimal or hex; anything else is an error."""
    try:
        return codes.lookup(value).code
    except codes.UnknownCodeError as error:
        raise ValueError(str(error)) from None
