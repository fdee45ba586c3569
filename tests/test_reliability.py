"""The reliability command's judges and its training kill test."""
from maskgit.bench.reliability import ApiCase, judge_api, training_kill
from maskgit.cli import default_checkpoints


class FakeClient:
    def __init__(self, error=None):
        self.error = error

    def predict(self, *args, api_name):
        if self.error:
            raise ValueError(self.error)
        return ("ok",)


def test_a_bad_request_passes_only_when_refused_in_one_line_naming_the_problem():
    bad = ApiCase("bad seed", "/inpaint", (), error="seed")
    assert judge_api(FakeClient("seed must be a whole number"), bad)["passed"]
    assert not judge_api(FakeClient(), bad)["passed"]  # accepted
    assert not judge_api(FakeClient("Traceback (most recent call last):\n  ..."), bad)["passed"]
    assert not judge_api(FakeClient("something else went wrong"), bad)["passed"]


def test_a_valid_request_passes_only_when_served():
    good = ApiCase("16-bit picture", "/inpaint", ())
    assert judge_api(FakeClient(), good)["passed"]
    assert not judge_api(FakeClient("could not read"), good)["passed"]


def test_a_killed_training_run_resumes_losing_at_most_one_save_interval(tmp_path):
    result = training_kill(default_checkpoints(), str(tmp_path))
    assert result["passed"], result
    assert result["resumed_to"] == result["saved_step"] + 3 and result["saved_step"] > 0


def test_the_command_line_cases_added_or_repaired_in_1_1_are_refused_naming_their_problem():
    """The eight cases 1.1.0 added, and three whose setup 1.0.0 got wrong (its table shows
    them refused for another reason): each must name what it refuses."""
    from maskgit.bench.reliability_cli import run_cli_catalogue
    names = {"inpaint: empty file as image", "inpaint: text file as mask", "inpaint: total iterations not a number",
             "inpaint: fractional sweet spot", "inpaint: config with heads that do not divide dim",
             "train: guide ragged share 2", "train: guide from a folder without one", "evaluate: unknown val holes",
             "inpaint: config of a huge model", "evaluate: folder without mask64/", "evaluate: missing guide"}
    results = run_cli_catalogue(default_checkpoints(), names=names)
    assert {r["case"] for r in results} == names
    assert [r for r in results if not r["passed"]] == []
