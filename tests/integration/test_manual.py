"""The manual page, `plexiproxy --help` and the README say the same: every option of --help
is in the man page and the README, every top-level key of the README's configuration table
has its entry in the man page (and the man page lists no other), the man page's version is
the binary's, and groff renders the page without a warning."""

import re
import shutil
import subprocess
import unittest
from pathlib import Path

from harness.plexiproxy import binary

REPO = Path(__file__).resolve().parents[2]
MAN_PAGE = REPO / "deploy/plexiproxy.8"
README = REPO / "README.md"


def run(*args: str) -> str:
    result = subprocess.run([binary(), *args], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def man_source() -> str:
    """The page's troff source with its escaped hyphens made plain."""
    return MAN_PAGE.read_text().replace("\\-", "-")


def man_section(name: str) -> str:
    match = re.search(rf"^\.SH {name}\n(.*?)(?=^\.SH )", man_source(), re.M | re.S)
    assert match, f"no {name} section in {MAN_PAGE}"
    return match.group(1)


def readme_section(title: str) -> str:
    match = re.search(rf"^## {title}\n(.*?)(?=^## )", README.read_text(), re.M | re.S)
    assert match, f"no '## {title}' in {README}"
    return match.group(1)


def help_options() -> list[str]:
    """Every option --help lists, long and short: '--config', '-c', ..."""
    options_part = run("--help").split("\nOptions:\n", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", options_part)


def readme_config_keys() -> set[str]:
    """The first column of the README's configuration table, as top-level names:
    `users[]` is users, `clusters.<name>` is clusters."""
    table = re.search(r"^\| section \| keys \|\n\|---\|---\|\n((?:\|.*\n)+)",
                      readme_section("Configuration"), re.M)
    assert table, "no configuration table in the README"
    keys = set()
    for row in table.group(1).splitlines():
        cell = re.match(r"\| `([^`]+)` \|", row)
        assert cell, row
        keys.add(re.split(r"[.\[]", cell.group(1))[0])
    return keys


class ManualTest(unittest.TestCase):

    def test_help_lists_the_options_this_test_reads(self):
        options = help_options()
        for option in ("--config", "-c", "--check-config", "--help"):
            self.assertIn(option, options)

    def test_every_help_option_is_in_the_man_page(self):
        options_section = man_section("OPTIONS")
        for option in help_options():
            self.assertRegex(options_section, rf"(?<![\w-]){re.escape(option)}(?![\w-])", option)

    def test_every_help_option_is_in_the_readme_command_line(self):
        command_line = readme_section("Command line")
        for option in help_options():
            self.assertRegex(command_line, rf"`{re.escape(option)}[` ]", option)

    def test_the_man_page_has_an_entry_for_each_top_level_config_key(self):
        entries = set(re.findall(r"^\.TP\n\.B (\w+)\n", man_section("CONFIGURATION"), re.M))
        self.assertEqual(entries, readme_config_keys())

    def test_the_man_page_is_of_this_version(self):
        version = run("--version").split()[1]
        header = re.search(r'^\.TH PLEXIPROXY 8 "[^"]*" "plexiproxy ([^"]+)"', man_source(), re.M)
        self.assertTrue(header)
        self.assertEqual(header.group(1), version)

    def test_groff_renders_the_page_without_warnings(self):
        groff = shutil.which("groff")
        self.assertIsNotNone(groff, "groff (Debian's groff-base) is needed")
        result = subprocess.run([groff, "-man", "-ww", "-z", str(MAN_PAGE)], capture_output=True,
                                text=True, timeout=30)
        self.assertEqual((result.returncode, result.stderr), (0, ""))


if __name__ == "__main__":
    unittest.main()
