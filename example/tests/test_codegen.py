"""Unit tests for the example's codegen step."""
import pathlib
import sys
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).parent.parent))
import codegen  # noqa: E402


class ParseTest(unittest.TestCase):
    def test_skips_comments_and_blank_lines(self):
        self.assertEqual(codegen.parse("# x\n\ntea, 100\n"), [{"name": "tea", "price_cents": 100}])

    def test_names_may_contain_commas(self):
        self.assertEqual(codegen.parse("salt, pepper, 5"), [{"name": "salt, pepper", "price_cents": 5}])


if __name__ == "__main__":
    unittest.main()
