"""The client's configuration: the original format, errors, secrets, the sample."""
from __future__ import annotations

import configparser
import dataclasses
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from chipmunk.client import settings as client_settings
from chipmunk.client.settings import effective_settings, load_settings
from chipmunk.config import SECRET_MASK, ConfigError
from chipmunk.providers import BUILTIN, provider_class
from helpers import REPO, WAIT, child_env, run_client

ORIGINAL = Path(__file__).parent / "fixtures" / "original-cmclient.ini"
SAMPLE = REPO / "chipmunk" / "samples" / "client.ini"
MINIMAL = ("[ChipmunkAPIServer]\nusername = u\npassword = p\n"
           "endpoint = https://chipmunk.example.org\n")


def write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "client.ini"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_original_file_loads_with_deprecations_warned(tmp_path):
    path = tmp_path / "cmclient.ini"
    shutil.copy(ORIGINAL, path)
    path.chmod(0o600)
    settings = load_settings(path)
    assert settings.endpoint == "https://api.chipmunkserver.tld:8080"
    assert (settings.username, settings.password, settings.method) == (
        "barney", "s3kR3T", "get")
    assert settings.interval == 300 and settings.providers == ("linode",)
    linode = settings.provider_values["linode"]
    assert linode["endpoint"] == "https://api.linode.com/v4", "v3-era root means v4"
    assert (linode["host"], linode["zone"]) == (("myhouse",), "cooldomain.com"), "domain is zone"
    warnings = "\n".join(settings.warnings)
    assert "[Global] daemonize is deprecated" in warnings
    assert "[Daemon] pidfile is deprecated" in warnings
    assert "[Daemon] logfile is deprecated" in warnings
    assert settings.logfile == Path("/var/log/chipmunkclient.log"), "still honoured"


def test_original_update_dns_no_needs_no_provider_section(tmp_path):
    settings = load_settings(write(tmp_path, MINIMAL + "[Global]\nupdate_dns = no\n"
                                   "[dDNS]\nprovider = linode\n"))
    assert settings.providers == ()


def test_defaults(tmp_path, monkeypatch):
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    settings = load_settings(write(tmp_path, MINIMAL))
    assert settings.state_dir == Path("/var/lib/chipmunk-client")
    assert (settings.interval, settings.max_interval, settings.timeout) == (300, 604800, 10)
    assert settings.tls_verify is True and settings.warnings == ()
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path))
    assert load_settings(write(tmp_path, MINIMAL)).state_dir == tmp_path


def test_schemeless_endpoint_means_http_and_warns_off_loopback(tmp_path):
    settings = load_settings(write(tmp_path, MINIMAL.replace(
        "https://chipmunk.example.org", "chipmunk.example.org:8080")))
    assert settings.endpoint == "http://chipmunk.example.org:8080"
    assert "password travels unencrypted" in settings.warnings[0]
    local = load_settings(write(tmp_path, MINIMAL.replace(
        "https://chipmunk.example.org", "127.0.0.1:8080")))
    assert local.warnings == ()


@pytest.mark.parametrize("text, words", [
    ("[ChipmunkAPIServer]\nendpoint = https://chipmunk.example.org\n",
     "[ChipmunkAPIServer] username: required key is missing (the chipmunk source needs it"),
    ("[Discovery]\nipv4 = chipmunk\n",
     "[ChipmunkAPIServer] endpoint: required key is missing (the chipmunk source needs it"),
    ("[Discovery]\nipv4 = upnp, https://a.test/ip\nagree = 3\n",
     "[Discovery] agree = '3': 3 sources must agree but ipv4 lists 2"),
    ("[Discovery]\nipv6 = upnp\n", "[Discovery] ipv6 = 'upnp': upnp: the router reports "
     "its IPv4 address only; use it in ipv4"),
    ("[Discovery]\nipv4 = dns:myip.test@[2001:db8::53]:5300\n", "an IPv4 source asks "
     "over IPv4; 2001:db8::53 is an IPv6 server"),
    ("[Discovery]\nipv6 = dns:myip.test@2001:db8::53\n", "put an IPv6 server in brackets"),
    ("[Discovery]\nipv4 = dns:myip.test@192.0.2.53/MX\n", "TYPE must be one of A, AAAA, TXT"),
    ("[Discovery]\nipv4 = ftp://a.test/ip\n", "unknown source (expected chipmunk"),
    ("[Discovery]\nipv4 = https://a.test/ip, https://a.test/ip\n",
     "https://a.test/ip is listed twice"),
    ("[Discovery]\nipv4 = command:true\n", "command:true: give the program's absolute path"),
    (MINIMAL + "[Global]\nupdate_dns = maybe\n", "[Global] update_dns = 'maybe': "
     "expected yes or no"),
    (MINIMAL.replace("endpoint = https://chipmunk.example.org", "endpoint = ftp://x"),
     "[ChipmunkAPIServer] endpoint = 'ftp://x': expected a URL"),
    (MINIMAL + "method = put\n", "[ChipmunkAPIServer] method = 'put': expected get or set"),
    (MINIMAL + "tls_verify = /nonexistent/ca.pem\n",
     "tls_verify = '/nonexistent/ca.pem': expected yes, no, or the path of a CA file"),
    (MINIMAL + "[Daemon]\ninterval = soon\n", "[Daemon] interval = 'soon': expected a "
     "duration"),
    (MINIMAL + "[dDNS]\nprovider = nosuchdns\n", "[dDNS] provider = 'nosuchdns': unknown "
     "provider 'nosuchdns' (built in: cloudflare, command, dyndns2, hostsfile, linode, "
     "rfc2136; chipmunk-client providers lists them all"),
    (MINIMAL + "[dDNS]\nprovider = linode\n[linode]\ndomain = example.org\n",
     "[linode] api_key: required key is missing"),
    (MINIMAL + "[dDNS]\nprovider = linode\n[linode]\napi_key = k\ndomain = x\nttl = -1\n",
     "[linode] ttl = '-1': expected a number from 0 to 2147483647"),
    (MINIMAL + "[dDNS]\nprovider = linode\n[linode]\napi_kee = x\n",
     "[linode] api_kee = 'x': unknown key (known: api_key, api_key_file, create, domain, "
     "endpoint, host, record_types, ttl, zone)"),
    (MINIMAL + "[dDNS]\nprovider = linode\n[linode]\napi_key = k\nzone = x\ndomain = x\n",
     "[linode] domain: zone and domain mean the same; give one"),
    (MINIMAL + "[nosuchdns]\n", "[nosuchdns]: unknown section"),
    (MINIMAL + "password_file = /x\n", "give password or password_file, not both"),
])
def test_errors_name_file_section_key_and_value(tmp_path, text, words):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(caught.value).startswith(str(path))
    assert words in str(caught.value)


def test_secret_values_are_never_shown_in_errors(tmp_path):
    path = write(tmp_path, MINIMAL + "[dDNS]\nprovider = rfc2136\n[rfc2136]\n"
                 "server = 127.0.0.1\nzone = example.org\nkey_name = k\n"
                 "key_secret = hunter2-not-base64!\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert f"[rfc2136] key_secret = '{SECRET_MASK}': " in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_secrets_from_files_and_credentials(tmp_path, monkeypatch):
    (tmp_path / "password").write_text("from-a-file\n")
    text = MINIMAL.replace("password = p", f"password_file = {tmp_path / 'password'}")
    text += "[dDNS]\nprovider = linode\n[linode]\ndomain = example.org\n"
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "linode.api_key").write_text("from-a-credential")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    settings = load_settings(write(tmp_path, text, mode=0o644))
    assert settings.password == "from-a-file"
    assert settings.provider_values["linode"]["api_key"] == "from-a-credential"
    assert settings.warnings == (), "no secret in the file, no warning"


def test_missing_secret_file_names_it(tmp_path):
    path = write(tmp_path, MINIMAL.replace("password = p", "password_file = /no/such"))
    with pytest.raises(ConfigError, match=r"\[ChipmunkAPIServer\] password_file = "
                       r"'/no/such': cannot read the secret"):
        load_settings(path)


def test_readable_file_holding_a_secret_warns(tmp_path):
    settings = load_settings(write(tmp_path, MINIMAL, mode=0o644))
    assert any("[ChipmunkAPIServer] password: this file holds a secret and others can "
               "read it" in warning for warning in settings.warnings)


def test_effective_settings_mask_every_secret(tmp_path):
    settings = load_settings(write(tmp_path, MINIMAL + "[dDNS]\nprovider = linode, "
                                   "hostsfile\n[linode]\napi_key = tok\ndomain = d.org\n"
                                   "[hostsfile]\npath = /tmp/h\nnames = a b\n"))
    shown = configparser.ConfigParser(interpolation=None)
    shown.read_string(effective_settings(settings))
    assert shown["ChipmunkAPIServer"]["password"] == "********"
    assert shown["linode"]["api_key"] == "********"
    assert shown["hostsfile"]["host"] == "a, b", "names is the old spelling of host"
    assert shown["linode"]["zone"] == "d.org", "domain is the old spelling of zone"
    assert shown.sections() == ["Global", "ChipmunkAPIServer", "Discovery", "Daemon", "dDNS",
                                "linode",
                                "hostsfile"]


def test_shipped_sample_is_the_rendered_schema():
    assert SAMPLE.read_text() == client_settings.render_sample(), \
        "regenerate with: chipmunk-client sample-config > chipmunk/samples/client.ini"


def test_sample_shows_every_key(tmp_path):
    keys = set(re.findall(r"(?m)^#?(\w+) =", SAMPLE.read_text()))  # required: uncommented
    options = [option for option in client_settings.build_schema().options if option.in_use]
    secrets = {f"{option.key}_file" for option in options if option.secret}
    assert keys == {option.key for option in options} | secrets


def test_settings_class_matches_the_schema():
    """A key added, renamed or removed in one but not the other fails here."""
    fields = {field.name for field in dataclasses.fields(client_settings.ClientSettings)}
    schema = client_settings.build_schema()
    assert fields == (set(schema.fields(client_settings.STATIC_SECTIONS))
                      | set(client_settings.DERIVED_FIELDS))


def test_check_exits_78_with_one_line(tmp_path):
    path = write(tmp_path, MINIMAL + "[Daemon]\ninterval = 0\n")
    result = run_client(path, "check")
    assert result.returncode == 78
    assert result.stderr == (f"error: {path} [Daemon] interval = '0': expected a "
                             "duration from 0.1s to 86400s\n")


def test_common_options_go_before_or_after_the_command(tmp_path):
    good = write(tmp_path, MINIMAL)
    for args in (("check", "--config", str(good)), ("check", "--debug", "--config", str(good))):
        result = subprocess.run([sys.executable, "-m", "chipmunk.client.cli", *args],
                                capture_output=True, text=True, timeout=WAIT, env=child_env())
        assert result.returncode == 0 and f"# {good}: OK" in result.stdout, result.stderr
    # before the command, and not overridden by the command's own default
    assert run_client(good, "check").returncode == 0


def test_help_explains_commands_and_exit_codes():
    result = run_client(Path("/nonexistent"), "--help")
    assert result.returncode == 0
    for words in ("once [--dry-run] [--force]", "status", "75 temporary failure",
                  "77 credentials refused", "78 configuration error"):
        assert words in result.stdout


def test_the_readme_table_lists_each_built_in_provider_with_its_keys():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    table = readme.split("| provider | what it talks to |", 1)[1].split("\n\n", 1)[0]
    rows = dict(re.findall(r"(?m)^\| `(\w+)` \| [^|]+ \| (.+) \|$", table))
    assert set(rows) == set(BUILTIN)
    for name, keys in rows.items():
        listed = {re.match(r"`(\w+)`", item).group(1) for item in keys.split(", ")}
        options = {option.key for option in provider_class(name).section_options()}
        assert listed == options - {"record_types"}, name


@pytest.mark.parametrize("secret", ["password = secret", "password_file"])
def test_the_shipped_sample_passes_check_once_its_required_values_are_filled(tmp_path,
                                                                             secret):
    text = SAMPLE.read_text()
    untouched = run_client(write(tmp_path, text), "check")
    assert untouched.returncode == 0, untouched.stderr
    assert "IPv4 from 2 of 4 must agree: https://api4.ipify.org" in untouched.stdout, \
        "without a chipmunk server: the public services"
    text = text.replace("\nusername =\n", "\nusername = alice\n").replace(
        "\nendpoint =\n", "\nendpoint = https://chipmunk.example.org\n")
    if secret == "password_file":
        (tmp_path / "password").write_text("secret\n")
        text = text.replace("\n#password_file =\n", f"\npassword_file = {tmp_path}/password\n")
    else:
        text = text.replace("\npassword =\n", "\npassword = secret\n")
    result = run_client(write(tmp_path, text), "check")
    assert result.returncode == 0, result.stderr
