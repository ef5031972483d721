"""Every way Google lets the tool sign in, end to end with the real google-auth against the fake, and every refusal
said in words that name what to do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wandb_sheet_sync.errors import CredentialsError
from wandb_sheet_sync.sinks.google_auth import GCLOUD_LOGIN
from wandb_sheet_sync.sinks.google_sheets import GoogleSheetsSink
from tests.fakes.credentials import GCLOUD_DEFAULT_SCOPES, write_authorized_user
from tests.fakes.google_oauth import CLOUD_PLATFORM

SHEETS = ["https://www.googleapis.com/auth/spreadsheets", "https://www.googleapis.com/auth/drive.readonly"]
WITH_SHEETS = [*GCLOUD_DEFAULT_SCOPES, *SHEETS]  # what the gcloud line the tool prints asks for
ALICE = "alice@example.com"
ROBOT = "sheets-sync@test-project.iam.gserviceaccount.com"
NO_KEY = {"GCP_JSON": ""}


def own_sheet(e2e, owner: str) -> str:
    """A spreadsheet only `owner` may open, as the config's SPREADSHEET."""
    ss = e2e.google.world.add_spreadsheet("Team runs", {"Sheet1": []}, owners={owner})
    e2e.config(SPREADSHEET=ss.spreadsheet_id)
    e2e.spreadsheet_id = ss.spreadsheet_id
    return ss.spreadsheet_id


def grants(e2e, kind: str) -> list[dict]:
    return [r.body for r in e2e.google.world.log if r.path == "/token" and (r.body or {}).get("grant_type") == kind]


def synced(e2e, result, runs: int = 3) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(e2e.rows()) == runs


@pytest.mark.slow
def test_service_account_key_in_gcp_json(e2e):
    email = json.loads(e2e.key_file.read_text())["client_email"]
    own_sheet(e2e, email)
    e2e.wandb.world.generate(3)
    synced(e2e, e2e.cli("--once"))
    assert len(grants(e2e, "urn:ietf:params:oauth:grant-type:jwt-bearer")) == 1


@pytest.mark.slow
def test_authorized_user_file_in_gcp_json(e2e):
    adc = e2e.tmp / "adc.json"
    write_authorized_user(adc, e2e.google.world.auth, ALICE, WITH_SHEETS)
    own_sheet(e2e, ALICE)
    e2e.wandb.world.generate(3)
    synced(e2e, e2e.cli("--once", GCP_JSON=str(adc)))
    refresh = grants(e2e, "refresh_token")
    assert len(refresh) == 1 and "scope" not in refresh[0]  # the token carries what the person granted


@pytest.mark.slow
def test_authorized_user_json_text_in_gcp_json(e2e):
    adc = e2e.tmp / "adc.json"
    write_authorized_user(adc, e2e.google.world.auth, ALICE, WITH_SHEETS)
    own_sheet(e2e, ALICE)
    e2e.wandb.world.generate(3)
    synced(e2e, e2e.cli("--once", GCP_JSON=adc.read_text()))


@pytest.mark.slow
def test_adc_through_google_application_credentials(e2e):
    adc = e2e.tmp / "elsewhere" / "adc.json"
    write_authorized_user(adc, e2e.google.world.auth, ALICE, WITH_SHEETS)
    own_sheet(e2e, ALICE)
    e2e.wandb.world.generate(3)
    synced(e2e, e2e.cli("--once", GOOGLE_APPLICATION_CREDENTIALS=str(adc), **NO_KEY))
    assert len(grants(e2e, "refresh_token")) == 1


@pytest.mark.slow
def test_adc_from_gcloud_config_folder(e2e):
    gcloud = e2e.tmp / "gcloud"
    write_authorized_user(gcloud / "application_default_credentials.json", e2e.google.world.auth, ALICE, WITH_SHEETS)
    own_sheet(e2e, ALICE)
    e2e.wandb.world.generate(3)
    synced(e2e, e2e.cli("--once", CLOUDSDK_CONFIG=str(gcloud), **NO_KEY))


@pytest.mark.slow
def test_impersonation_acts_as_the_service_account_without_a_key(e2e):
    gcloud = e2e.tmp / "gcloud"
    write_authorized_user(gcloud / "application_default_credentials.json", e2e.google.world.auth, ALICE,
                          GCLOUD_DEFAULT_SCOPES)  # gcloud's default scopes suffice: the robot's token has Sheets
    e2e.google.world.auth.token_creators[ROBOT] = {ALICE}
    own_sheet(e2e, ROBOT)
    e2e.wandb.world.generate(3)
    synced(e2e, e2e.cli("--once", CLOUDSDK_CONFIG=str(gcloud), IMPERSONATE_SERVICE_ACCOUNT=ROBOT, **NO_KEY))
    calls = [r for r in e2e.google.world.log if r.path.endswith(f"{ROBOT}:generateAccessToken")]
    assert len(calls) == 1 and calls[0].status == 200
    assert sorted(calls[0].body["scope"]) == sorted(SHEETS)


@pytest.mark.slow
def test_impersonation_from_the_config_file(e2e):
    adc = e2e.tmp / "adc.json"
    write_authorized_user(adc, e2e.google.world.auth, ALICE, GCLOUD_DEFAULT_SCOPES)
    e2e.google.world.auth.token_creators[ROBOT] = {ALICE}
    own_sheet(e2e, ROBOT)
    e2e.config(SPREADSHEET=e2e.spreadsheet_id, IMPERSONATE_SERVICE_ACCOUNT=ROBOT)
    e2e.wandb.world.generate(3)
    synced(e2e, e2e.cli("--once", GCP_JSON=str(adc)))


@pytest.mark.slow
def test_impersonation_without_the_token_creator_role_says_which_role_to_grant(e2e):
    adc = e2e.tmp / "adc.json"
    write_authorized_user(adc, e2e.google.world.auth, ALICE, GCLOUD_DEFAULT_SCOPES)
    own_sheet(e2e, ROBOT)
    e2e.wandb.world.generate(3)
    result = e2e.cli("--once", GCP_JSON=str(adc), IMPERSONATE_SERVICE_ACCOUNT=ROBOT)
    assert result.returncode == 2, result.stderr
    assert f"would not let GCP_JSON (authorized_user) act as {ROBOT}" in result.stderr
    assert "Permission 'iam.serviceAccounts.getAccessToken' denied" in result.stderr
    assert f"roles/iam.serviceAccountTokenCreator) on {ROBOT}" in result.stderr


@pytest.mark.slow
def test_a_bad_impersonate_value_is_a_configuration_problem(e2e):
    result = e2e.cli("--once", IMPERSONATE_SERVICE_ACCOUNT="sheets-sync")
    assert result.returncode == 2
    assert "IMPERSONATE_SERVICE_ACCOUNT: must be the e-mail of a service account to act as" in result.stderr
    assert e2e.google.world.log == []


def metadata_env(e2e) -> dict:
    host = e2e.google.url.split("://", 1)[1]
    return {"GCE_METADATA_HOST": host, "GCE_METADATA_IP": host, **NO_KEY}


@pytest.mark.slow
def test_metadata_server_on_google_cloud(e2e):
    vm = e2e.google.world.auth.metadata
    vm.email, vm.scopes = "123-compute@developer.gserviceaccount.com", [CLOUD_PLATFORM, *SHEETS]
    own_sheet(e2e, vm.email)
    e2e.wandb.world.generate(3)
    synced(e2e, e2e.cli("--once", **metadata_env(e2e)))
    tokens = [r for r in e2e.google.world.log if r.path.endswith("/service-accounts/default/token")]
    assert len(tokens) == 1 and tokens[0].status == 200


@pytest.mark.slow
def test_metadata_server_of_a_vm_with_default_access_scopes_says_how_to_add_them(e2e):
    vm = e2e.google.world.auth.metadata
    vm.email = "123-compute@developer.gserviceaccount.com"  # scopes: Compute Engine's default, no Sheets
    own_sheet(e2e, vm.email)
    e2e.wandb.world.generate(3)
    result = e2e.cli("--once", **metadata_env(e2e))
    assert result.returncode == 2
    assert "from the metadata server" in result.stderr and "ACCESS_TOKEN_SCOPE_INSUFFICIENT" in result.stderr
    assert "the VM's access scopes decide" in result.stderr and "IMPERSONATE_SERVICE_ACCOUNT" in result.stderr


@pytest.mark.slow
def test_metadata_server_through_impersonation_gets_the_scopes_the_vm_lacks(e2e):
    vm = e2e.google.world.auth.metadata
    vm.email, vm.scopes = "123-compute@developer.gserviceaccount.com", [CLOUD_PLATFORM]
    e2e.google.world.auth.token_creators[ROBOT] = {vm.email}
    own_sheet(e2e, ROBOT)
    e2e.wandb.world.generate(3)
    synced(e2e, e2e.cli("--once", IMPERSONATE_SERVICE_ACCOUNT=ROBOT, **metadata_env(e2e)))


@pytest.mark.slow
def test_adc_with_gcloud_default_scopes_prints_the_exact_gcloud_line(e2e):
    adc = e2e.tmp / "adc.json"
    write_authorized_user(adc, e2e.google.world.auth, ALICE, GCLOUD_DEFAULT_SCOPES)
    own_sheet(e2e, ALICE)
    e2e.wandb.world.generate(3)
    result = e2e.cli("--once", GOOGLE_APPLICATION_CREDENTIALS=str(adc), **NO_KEY)
    assert result.returncode == 2
    assert "Google refused the credentials from GOOGLE_APPLICATION_CREDENTIALS (authorized_user) while reading " \
           "the spreadsheet's sheets: Request had insufficient authentication scopes " \
           "(ACCESS_TOKEN_SCOPE_INSUFFICIENT)" \
           in result.stderr
    assert f"`{GCLOUD_LOGIN}`" in result.stderr
    assert GCLOUD_LOGIN == ("gcloud auth application-default login --scopes=openid,"
                            "https://www.googleapis.com/auth/userinfo.email,"
                            "https://www.googleapis.com/auth/cloud-platform,"
                            "https://www.googleapis.com/auth/spreadsheets,"
                            "https://www.googleapis.com/auth/drive.readonly")
    refused = [r for r in e2e.google.world.log if r.status == 403]
    assert len(refused) == 1 and not any(r.is_sheets_write for r in e2e.google.world.log)


@pytest.mark.slow
def test_an_expired_refresh_token_says_to_log_in_again(e2e):
    adc = e2e.tmp / "adc.json"
    info = write_authorized_user(adc, e2e.google.world.auth, ALICE, WITH_SHEETS)
    e2e.google.world.auth.grants[info["refresh_token"]].revoked = True
    e2e.wandb.world.generate(3)
    result = e2e.cli("--once", GCP_JSON=str(adc))
    assert result.returncode == 2
    assert "Google refused the stored sign-in from GCP_JSON (authorized_user) (Token has been expired or " \
           "revoked.)" in result.stderr
    assert f"Log in again: `{GCLOUD_LOGIN}`, or `wandb-spreadsheet-sync --login CLIENT_FILE`." in result.stderr
    assert [r.body["grant_type"] for r in e2e.google.world.log if r.path == "/token"] == ["refresh_token"]


@pytest.mark.slow
def test_no_credentials_anywhere_lists_the_ways_shortest_first(e2e):
    e2e.wandb.world.generate(3)
    result = e2e.cli("--once", GCE_METADATA_HOST="", **NO_KEY)
    assert result.returncode == 2
    text = result.stderr
    assert "No Google credentials were found: no GCP_JSON or GOOGLE_APPLICATION_CREDENTIALS, no `--login` token" \
           in text
    ways = [text.index(w) for w in ("--login CLIENT_FILE", "gcloud auth application-default login",
                                    "GCP_JSON=<key file>", "IMPERSONATE_SERVICE_ACCOUNT", "metadata server on Google")]
    assert ways == sorted(ways)
    assert e2e.google.world.log == []


@pytest.mark.skipif(Path("/sys/class/dmi/id/product_name").is_file() and
                    Path("/sys/class/dmi/id/product_name").read_text().startswith("Google"),
                    reason="this machine is a Google Cloud VM: the metadata server is rightly asked")
def test_no_credentials_off_google_cloud_never_asks_the_metadata_server(google, tmp_path, monkeypatch):
    """In the test process, under the network guard: google-auth's own detection would ping 169.254.169.254
    (three tries of 3 s each off Google Cloud); the tool asks no one and says what to do."""
    for name in ("GCE_METADATA_HOST", "GCE_METADATA_ROOT", "GCE_METADATA_IP", "K_SERVICE", "CLOUD_RUN_JOB",
                 "FUNCTION_TARGET", "GAE_SERVICE", "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(CredentialsError) as caught:
        GoogleSheetsSink("sheet-key-" + "x" * 30, None, google.url, login_token=tmp_path / "no-token.json")
    assert "No Google credentials were found" in str(caught.value)
    assert google.world.log == []  # and the guard saw no attempt to leave the machine


@pytest.mark.slow
def test_a_sheet_not_shared_names_the_signed_in_person(e2e):
    adc = e2e.tmp / "adc.json"
    write_authorized_user(adc, e2e.google.world.auth, ALICE, WITH_SHEETS)
    own_sheet(e2e, "someone-else@example.com")
    e2e.wandb.world.generate(3)
    result = e2e.cli("--once", GCP_JSON=str(adc))
    assert result.returncode == 2
    assert f"with {ALICE} as an Editor" in result.stderr and "Share the spreadsheet" in result.stderr
    assert sum(1 for r in e2e.google.world.log if r.path == "/tokeninfo") == 1


@pytest.mark.slow
def test_a_sheet_not_shared_names_the_impersonated_service_account(e2e):
    adc = e2e.tmp / "adc.json"
    write_authorized_user(adc, e2e.google.world.auth, ALICE, GCLOUD_DEFAULT_SCOPES)
    e2e.google.world.auth.token_creators[ROBOT] = {ALICE}
    own_sheet(e2e, ALICE)
    e2e.wandb.world.generate(3)
    result = e2e.cli("--once", GCP_JSON=str(adc), IMPERSONATE_SERVICE_ACCOUNT=ROBOT)
    assert result.returncode == 2
    assert f"with {ROBOT} as an Editor" in result.stderr and "Share the spreadsheet" in result.stderr


@pytest.mark.slow
def test_workload_identity_federation_file_in_gcp_json(e2e):
    """A CI job's OIDC token (here a file, as GitHub Actions or GitLab hand it over) traded at STS for a federated
    token, then for the service account's: the external_account file `gcloud iam workload-identity-pools
    create-cred-config` writes, with every Google URL in it reached through GOOGLE_API_ENDPOINT."""
    audience = ("//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/ci/providers/"
                "github")
    principal = "principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/ci/" \
                "subject/repo:lab/train:ref:refs/heads/main"
    (e2e.tmp / "oidc.jwt").write_text("eyJ.fake-oidc-token.sig")
    e2e.google.world.auth.pools[audience] = {"eyJ.fake-oidc-token.sig": principal}
    e2e.google.world.auth.token_creators[ROBOT] = {principal}
    wif = e2e.tmp / "wif.json"
    wif.write_text(json.dumps({
        "type": "external_account", "audience": audience,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": "https://sts.googleapis.com/v1/token",
        "credential_source": {"file": str(e2e.tmp / "oidc.jwt")},
        "service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/"
                                             f"{ROBOT}:generateAccessToken"}))
    own_sheet(e2e, ROBOT)
    e2e.wandb.world.generate(3)
    synced(e2e, e2e.cli("--once", GCP_JSON=str(wif)))
    steps = [r.path for r in e2e.google.world.log if r.path.startswith("/v1/")]
    assert steps == ["/v1/token", f"/v1/projects/-/serviceAccounts/{ROBOT}:generateAccessToken"]


@pytest.mark.slow
def test_impersonated_service_account_file_in_gcp_json(e2e):
    """What `gcloud auth application-default login --impersonate-service-account=SA` writes."""
    source = write_authorized_user(e2e.tmp / "source.json", e2e.google.world.auth, ALICE, GCLOUD_DEFAULT_SCOPES)
    e2e.google.world.auth.token_creators[ROBOT] = {ALICE}
    adc = e2e.tmp / "adc.json"
    adc.write_text(json.dumps({
        "type": "impersonated_service_account", "delegates": [], "source_credentials": source,
        "service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/"
                                             f"{ROBOT}:generateAccessToken"}))
    own_sheet(e2e, ROBOT)
    e2e.wandb.world.generate(3)
    synced(e2e, e2e.cli("--once", GOOGLE_APPLICATION_CREDENTIALS=str(adc), **NO_KEY))


@pytest.mark.slow
def test_a_sheet_not_shared_names_the_vm_service_account(e2e):
    vm = e2e.google.world.auth.metadata
    vm.email, vm.scopes = "123-compute@developer.gserviceaccount.com", [CLOUD_PLATFORM, *SHEETS]
    own_sheet(e2e, "someone-else@example.com")
    e2e.wandb.world.generate(3)
    result = e2e.cli("--once", **metadata_env(e2e))
    assert result.returncode == 2
    assert f"with {vm.email} as an Editor" in result.stderr
