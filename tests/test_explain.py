"""bd.explain: the report's section 2.3 (equations 4-30) for any function of floats."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bobodiff as bd


def report_f(x1, x2):
    return x1**2 * x2 + bd.cos(x2)


def test_report_example_reproduces_equations_4_to_30():
    x1, x2 = 1.0, 2.0
    e = bd.explain(report_f, x1, x2)
    assert [s.name for s in e.steps] == ["v-1", "v0", "v1", "v2", "v3", "v4"]
    # (4)-(9): the evaluation trace
    defs = {s.name: s.definition for s in e.steps}
    assert defs == {"v-1": "x1", "v0": "x2", "v1": "v-1 ** 2", "v2": "v1 * v0",
                    "v3": "cos(v0)", "v4": "v2 + v3"}
    values = [x1, x2, x1**2, x1**2 * x2, math.cos(x2), x1**2 * x2 + math.cos(x2)]
    assert [s.value for s in e.steps] == pytest.approx(values, rel=1e-15)
    assert e.outputs == ["v4"]
    # (10)-(15): direction (1, 0); (16)-(21): direction (0, 1)
    along_x1 = [1, 0, 2 * x1, 2 * x1 * x2, 0, 2 * x1 * x2]
    along_x2 = [0, 1, 0, x1**2, -math.sin(x2), x1**2 - math.sin(x2)]
    assert [s.tangents[0] for s in e.steps] == pytest.approx(along_x1)
    assert [s.tangents[1] for s in e.steps] == pytest.approx(along_x2)
    # (22)-(30): adjoints
    adjoints = {"v4": 1, "v3": 1, "v2": 1, "v1": x2, "v0": x1**2 - math.sin(x2),
                "v-1": 2 * x1 * x2}
    assert {s.name: s.adjoints[0] for s in e.steps} == pytest.approx(adjoints)
    # (26): v̄0 sums two consumers, v2 = v1·v0 and v3 = cos(v0)
    assert e.step("v3").partials == [("v0", pytest.approx(-math.sin(x2)))]


def test_text_and_markdown_show_the_numbers():
    text = str(bd.explain(report_f, 1.0, 2.0))
    assert "1.5838531634528576" in text and "0.09070257317431829" in text
    assert "v̇3" in text and "v̄0" in text and "along x2" in text
    md = str(bd.explain(report_f, 1.0, 2.0, format="md"))
    assert md.count("\n| --- | --- |") == 3 and "| v3 | cos(v0) | -0.4161468365471424 |" in md


_UNARY = [bd.sin, bd.cos, bd.exp, bd.tanh, bd.sigmoid]


@settings(max_examples=40, deadline=None)
@given(st.floats(-2, 2), st.floats(0.5, 3), st.sampled_from(_UNARY))
def test_last_tangents_and_input_adjoints_are_the_gradient(a, b, fn):
    def f(x, y):
        return fn(x * y) / y + bd.log(y) * x, x - y

    e = bd.explain(f, a, b)
    h = 1e-6
    for k, out in enumerate(e.outputs):
        for j, inp in enumerate(["v-1", "v0"]):
            shifted = [[a, b], [a, b]]
            shifted[0][j] += h
            shifted[1][j] -= h
            fd = (float(f(*shifted[0])[k]) - float(f(*shifted[1])[k])) / (2 * h)
            assert e.step(out).tangents[j] == pytest.approx(fd, rel=1e-5, abs=1e-6)
            assert e.step(inp).adjoints[k] == pytest.approx(fd, rel=1e-5, abs=1e-6)


def test_bad_arguments_say_what_is_wrong():
    with pytest.raises(TypeError, match="argument 0 is a ndarray"):
        bd.explain(lambda x: x * 2.0, np.ones(3))
    with pytest.raises(ValueError, match="format"):
        bd.explain(report_f, 1.0, 2.0, format="html")
    with pytest.raises(TypeError, match="returned a str"):
        bd.explain(lambda x: "no", 1.0)
