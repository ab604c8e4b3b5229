#!/usr/bin/env python3
"""Self-test of check_code_blocks.py: it must fail on what would let the docs rot.

usage: test_check_code_blocks.py [--cxx CXX]... [--cc CC]... [--nasm NASM]
(the same tool arguments as the checker; without --cxx, g++ from PATH).
"""
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKER = os.path.join(HERE, 'check_code_blocks.py')
TOOLS = {'--cxx': [], '--cc': [], '--nasm': []}


def tool_args():
    args = []
    for opt, values in TOOLS.items():
        for v in values:
            args += [opt, v]
    if not TOOLS['--cxx']:
        args += ['--cxx', 'g++']
    return args


class CheckerTest(unittest.TestCase):
    def run_checker(self, markdown, extra=()):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, 'doc.md')
            with open(path, 'w') as f:
                f.write(textwrap.dedent(markdown))
            r = subprocess.run([sys.executable, CHECKER] + tool_args() + list(extra) + [path],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               cwd=d)
            return r.returncode, r.stdout.replace(path, 'doc.md')

    def need(self, option):
        if not TOOLS[option]:
            self.skipTest(f'no {option} given')

    def assert_fails(self, markdown, *expected):
        rc, out = self.run_checker(markdown)
        self.assertNotEqual(rc, 0, out)
        for e in expected:
            self.assertIn(e, out)
        return out

    def assert_passes(self, markdown, *expected):
        rc, out = self.run_checker(markdown)
        self.assertEqual(rc, 0, out)
        for e in expected:
            self.assertIn(e, out)
        return out

    # --- what must fail

    def test_broken_cxx_block_fails_with_markdown_line(self):
        out = self.assert_fails("""\
            # Title

            ```c++
            #include <smpboot/smpboot.hpp>
            void f() { smpboot::no_such_function(); }
            ```
            """, 'doc.md:3: c++: FAIL')
        self.assertIn('doc.md:5:', out)   # the error is on the markdown's line 5

    def test_library_name_that_does_not_exist_fails_even_with_the_prelude(self):
        self.assert_fails("""\
            <!-- docs-check: prelude=kernel-stubs wrap=function -->
            ```cpp
            (void)smpboot::give_stack_gdt_gs_and_entry(alloc_stack(4096));
            ```
            """, 'doc.md:2: cpp: FAIL', 'give_stack_gdt_gs_and_entry')

    def test_warning_is_an_error(self):
        self.assert_fails("""\
            ```c++
            int f(int x) { int unused = x; return x; }
            ```
            """, 'FAIL', 'unused')

    def test_unknown_tag_fails(self):
        self.assert_fails("""\
            ```rust
            fn main() {}
            ```
            """, 'doc.md:1: rust: FAIL', 'unknown language tag "rust"')

    def test_unknown_directive_key_fails(self):
        self.assert_fails("""\
            <!-- docs-check: wrapp=function -->
            ```c++
            int x;
            ```
            """, 'unknown docs-check key "wrapp"')

    def test_directive_not_before_a_fence_fails(self):
        self.assert_fails("""\
            <!-- docs-check: skip reason="stray" -->
            Some text.

            ```text
            hi
            ```
            """, 'not right before a fence')

    def test_unknown_prelude_fails(self):
        self.assert_fails("""\
            <!-- docs-check: prelude=no-such-prelude -->
            ```c++
            int x;
            ```
            """, 'no prelude "no-such-prelude"')

    def test_skip_needs_a_reason(self):
        self.assert_fails("""\
            <!-- docs-check: skip -->
            ```c++
            this is not C++
            ```
            """, 'skip needs reason=')

    def test_unclosed_fence_fails(self):
        self.assert_fails("""\
            ```c++
            int x;
            """, 'never closed')

    def test_fragment_without_wrap_fails(self):
        self.assert_fails("""\
            ```c++
            int x = 1;
            x += 2;
            ```
            """, 'FAIL', 'doc.md:3:')

    def test_continues_without_an_earlier_block_fails(self):
        self.assert_fails("""\
            <!-- docs-check: continues -->
            ```c++
            int y = x;
            ```
            """, 'no earlier checked block')

    def test_broken_nasm_block_fails_with_markdown_line(self):
        self.need('--nasm')
        out = self.assert_fails("""\
            text

            ```nasm
            section .text
            mov rax,
            ```
            """, 'doc.md:3: nasm: FAIL')
        self.assertIn('doc.md:5:', out)

    def test_broken_c_block_fails(self):
        self.need('--cc')
        self.assert_fails("""\
            ```c
            int f(void) { return undefined_name; }
            ```
            """, 'doc.md:1: c: FAIL')

    # --- what must pass, and be listed

    def test_every_block_listed(self):
        out = self.assert_passes("""\
            ```sh
            make
            ```

            ```
            plain
            ```

            ```meson
            project('x')
            ```

            <!-- docs-check: skip reason="pseudo-code on purpose" -->
            ```c++
            wake every CPU;
            ```

            <!-- docs-check: prelude=kernel-stubs wrap=function -->
            ```c++
            uint64_t top = alloc_stack(16 * 1024);
            ```

            <!-- docs-check: continues -->
            ```c++
            void g() { panic("x", "y"); }
            ```
            """,
            'doc.md:1: not compiled: sh', 'doc.md:5: not compiled: untagged',
            'doc.md:9: not compiled: meson',
            'doc.md:14: c++: skipped (pseudo-code on purpose)', 'doc.md:19: c++: ok',
            'doc.md:24: c++: ok')
        self.assertIn('6 blocks', out)

    def test_indented_block_in_a_list(self):
        self.assert_passes("""\
            - item:

              <!-- docs-check: wrap=function -->
              ```c++
              int local = 0;
              ```
            """, 'doc.md:4: c++: ok')

    def test_nasm_incbin_with_empty_file(self):
        self.need('--nasm')
        self.assert_passes("""\
            <!-- docs-check: empty-file=blob.bin -->
            ```nasm
            section .rodata
            incbin "blob.bin"
            ```
            """, 'doc.md:2: nasm: ok')


def main():
    argv = sys.argv[1:]
    rest = [sys.argv[0]]
    i = 0
    while i < len(argv):
        if argv[i] in TOOLS and i + 1 < len(argv):
            TOOLS[argv[i]].append(argv[i + 1])
            i += 2
        else:
            rest.append(argv[i])
            i += 1
    TOOLS['--nasm'] = TOOLS['--nasm'][-1:]   # the checker takes one nasm
    unittest.main(argv=rest, verbosity=2)


if __name__ == '__main__':
    main()
