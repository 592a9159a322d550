"""The generic name -> value registry every ReelRL registry is built on: exact messages and behaviour."""

import pytest

from training.registry import Registry, UnknownNameError


class Owner:  # a registered class: its module and qualified name appear in the duplicate message
    pass


def test_add_get_and_listing_order():
    reg: Registry[int] = Registry("widget")
    assert reg.add("b", 2) == 2 and reg.add("a", 1) == 1
    assert reg.get("a") == 1 and reg.resolve("b") == "b"
    assert list(reg) == ["b", "a"]  # registration order
    assert reg.names() == ["a", "b"]  # sorted
    assert reg.items() == [("b", 2), ("a", 1)]
    assert len(reg) == 2 and "a" in reg and "c" not in reg
    assert repr(reg) == "Registry('widget', ['b', 'a'])"


@pytest.mark.parametrize("bad", ["", None, 3])
def test_empty_or_non_string_name_rejected(bad):
    reg: Registry[int] = Registry("widget")
    with pytest.raises(ValueError) as err:
        reg.add(bad, 1)
    assert str(err.value) == f"widget name must be a non-empty string, got {bad!r}"
    assert len(reg) == 0


def test_duplicate_rejected_and_first_kept():
    reg: Registry[object] = Registry("widget")
    reg.add("a", 1)
    with pytest.raises(ValueError) as err:
        reg.add("a", 2)
    assert str(err.value) == "widget 'a' is already registered"
    assert reg.get("a") == 1
    reg.add("owner", Owner)
    with pytest.raises(ValueError) as err:
        reg.add("owner", object)
    assert str(err.value) == f"widget 'owner' is already registered by {__name__}.Owner"


def test_unknown_name_lists_the_sorted_known_ones():
    reg: Registry[int] = Registry("widget")
    with pytest.raises(UnknownNameError) as err:
        reg.get("x")
    assert str(err.value) == "unknown widget 'x'; known: (none)"
    reg.add("b", 2)
    reg.add("a", 1)
    with pytest.raises(KeyError) as err:  # UnknownNameError is a KeyError, printed unquoted
        reg.get("c")
    assert str(err.value) == "unknown widget 'c'; known: a, b"
    with pytest.raises(UnknownNameError, match=r"unknown widget \['a'\]"):
        reg.get(["a"])  # unhashable: still the clean error
    assert ["a"] not in reg


def test_custom_error_class_and_label():
    class Missing(ValueError):
        pass

    reg: Registry[int] = Registry("policy loss", error=Missing, known="allowed")
    reg.add("ppo", 1)
    with pytest.raises(Missing) as err:
        reg.get("sapo")
    assert str(err.value) == "unknown policy loss 'sapo'; allowed: ppo"
    assert "sapo" not in reg


def test_fold_and_aliases():
    reg: Registry[str] = Registry("type", fold=lambda s: s.strip().lower())
    reg.add("Multiple Choice", "mc-scorer", aliases=("MC", "mc"))  # spellings folding together in one add
    assert reg.get("  multiple choice ") == "mc-scorer" and reg.resolve("Mc") == "Multiple Choice"
    assert reg.aliases("mc") == ("MC", "mc") and reg.names() == ["Multiple Choice"]
    reg.add("open", "open-scorer")
    with pytest.raises(ValueError) as err:
        reg.add("MC", "other")
    assert str(err.value) == "type 'MC' is already registered (taken: 'mc' by 'Multiple Choice')"
    with pytest.raises(ValueError) as err:
        reg.add("new", "other", aliases=("OPEN",))
    assert str(err.value) == "type 'new': alias 'OPEN' is already registered (taken: 'open' by 'open')"
    assert "new" not in reg  # a rejected add leaves nothing behind
    with pytest.raises(ValueError, match="type name must be a non-empty string, got ' '"):
        reg.add("x", "y", aliases=(" ",))
    with pytest.raises(UnknownNameError) as err:
        reg.get("essay")
    assert str(err.value) == (
        "unknown type 'essay'; known: Multiple Choice (aliases: MC, mc); open (aliases: -)"
    )


def test_remove_and_copy_are_independent():
    reg: Registry[int] = Registry("widget", fold=str.lower)
    reg.add("A", 1, aliases=("first",))
    copy = reg.copy()
    copy.add("B", 2)
    assert "b" in copy and "b" not in reg
    reg.remove("FIRST")
    assert "a" not in reg and "first" not in reg and len(reg) == 0
    assert copy.get("first") == 1
    reg.add("first", 3)  # the freed spelling can be registered again
    assert reg.get("FIRST") == 3
    with pytest.raises(UnknownNameError):
        reg.remove("A")
