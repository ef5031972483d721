"""The one error taxonomy: which answers are re-sent, when the loop goes on, which exit code a failure gives."""

from __future__ import annotations

import pytest

from wandb_sheet_sync.errors import (AccessError, ConfigError, CredentialsError, Interrupted, Kind, OutcomeUnknown,
                              SheetLayoutError, SinkError, TransientError, blames_the_request, kind_of_status,
                              loop_goes_on, may_resend)


@pytest.mark.parametrize("status, kind", [(429, Kind.TRANSIENT), (500, Kind.TRANSIENT), (503, Kind.TRANSIENT),
                                          (408, Kind.TRANSIENT), (401, Kind.SETUP), (403, Kind.SETUP),
                                          (404, Kind.SETUP), (400, Kind.TERMINAL), (413, Kind.TERMINAL)])
def test_a_status_has_one_kind(status, kind):
    assert kind_of_status(status) is kind


def test_a_429_is_re_sent_even_for_a_write_that_would_act_twice():
    assert may_resend(429, repeatable=False)  # Google and W&B promise nothing was done


@pytest.mark.parametrize("status", [None, 500, 503])
def test_a_lost_answer_or_5xx_is_re_sent_only_when_sending_twice_is_harmless(status):
    assert may_resend(status, repeatable=True)
    assert not may_resend(status, repeatable=False)


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_a_refusal_is_never_re_sent(status):
    assert not may_resend(status, repeatable=True)


@pytest.mark.parametrize("error, code", [
    (ConfigError(["x: bad"]), 2), (CredentialsError("key"), 2), (AccessError("share"), 2),
    (SheetLayoutError("twice"), 1), (SinkError("400"), 1), (TransientError("503"), 1),
    (OutcomeUnknown("lost"), 1), (Interrupted("stop"), 130)])
def test_exit_codes_follow_the_kind(error, code):
    assert error.exit_code == code


def test_the_loop_ends_only_for_a_setup_error_at_the_first_sync_or_a_stop():
    assert not loop_goes_on(CredentialsError("key"), first_sync=True)
    assert loop_goes_on(CredentialsError("key"), first_sync=False)  # it worked before: a passing refusal
    assert loop_goes_on(SheetLayoutError("run id twice"), first_sync=True)  # a person fixes the sheet
    assert loop_goes_on(TransientError("503"), first_sync=True)
    assert loop_goes_on(OutcomeUnknown("lost"), first_sync=True)
    assert not loop_goes_on(Interrupted("stop"), first_sync=False)


@pytest.mark.parametrize("status, blamed", [(None, True), (400, True), (500, True), (502, True),
                                            (401, False), (403, False), (404, False), (429, False)])
def test_only_an_answer_about_the_request_itself_blames_what_it_asked(status, blamed):
    """Asking for less (fewer history samples) helps with a 400 or a server that choked, never with a refused key,
    a project that cannot be seen, or rate limiting."""
    assert blames_the_request(status) is blamed
