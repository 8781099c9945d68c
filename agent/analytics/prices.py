"""The model price table (SUPPORT_MODEL_PRICES): US dollars per million tokens in and out."""

from __future__ import annotations

from dataclasses import dataclass, field

PER_TOKENS = 1_000_000


def parse_price_table(text: str) -> dict[str, tuple[float, float]]:
    """`model=IN/OUT,...` (dollars per million input/output tokens) as a dict; raises ValueError."""
    table: dict[str, tuple[float, float]] = {}
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        model, equals, prices = entry.rpartition("=")
        tokens_in, slash, tokens_out = prices.partition("/")
        try:
            if not (equals and slash and model.strip()):
                raise ValueError
            price = (float(tokens_in), float(tokens_out))
        except ValueError:
            raise ValueError(f"{entry!r} is not MODEL=IN/OUT (dollars per million input and "
                             "output tokens), e.g. openai:gpt-4.1-mini=0.40/1.60") from None
        if min(price) < 0:
            raise ValueError(f"{entry!r}: a price cannot be negative")
        table[model.strip()] = price
    return table


@dataclass(frozen=True)
class PriceTable:
    """Looks a model up by its full name, or by its name without the provider."""

    prices: dict[str, tuple[float, float]] = field(default_factory=dict)

    def price(self, model: str) -> tuple[float, float] | None:
        """Dollars per million tokens (in, out) for the model, or None when not listed."""
        if model in self.prices:
            return self.prices[model]
        # Providers report `gpt-4.1-mini` where the setting says `openai:gpt-4.1-mini`.
        for name, price in self.prices.items():
            if name.partition(":")[2] == model or model.partition(":")[2] == name:
                return price
        return None

    def cost(self, model: str, tokens_in: int, tokens_out: int) -> float:
        """Estimated dollars for these tokens; 0 for a model the table does not list."""
        price = self.price(model)
        if price is None:
            return 0.0
        return (tokens_in * price[0] + tokens_out * price[1]) / PER_TOKENS
