#!/usr/bin/env python3
"""Checks every fenced code block of the given markdown files, so the docs cannot rot.

usage: check_code_blocks.py [--cxx COMPILER]... [--cc COMPILER]... [--nasm NASM]
                            [-I DIR]... [--preludes DIR] FILE.md...

Each block is checked by its language tag (the first word after the fence):
  c++, cpp   compiled with every --cxx compiler under the library's freestanding kernel flags
             (-std=c++20 -ffreestanding -nostdinc++ -fno-exceptions -fno-rtti -mno-red-zone
             -mgeneral-regs-only -mcmodel=kernel -fno-pic -Wall -Wextra -Werror -fsyntax-only);
  c          compiled with every --cc compiler as freestanding C11 (-std=c11 -ffreestanding
             -Wall -Wextra -Werror -fsyntax-only);
  nasm       assembled with nasm -f elf64 (output discarded);
  meson, make, sh, bash, console, text and untagged blocks are listed as "not compiled";
  any other tag is an error.
A clang compiler named without --target gets --target=x86_64-elf. A COMPILER may carry its own
arguments ("clang++ --target=x86_64-elf"). A language with blocks but no compiler given fails.

A block is configured by HTML comments (invisible to the reader) on the lines right before its
opening fence, with the same indentation:
  <!-- docs-check: prelude=kernel-stubs -->   compile PREL_DIR/kernel-stubs.hpp (.h for C,
                                               .asm for nasm) before the block: declarations of
                                               what a kernel provides; several names may be
                                               given, comma-separated, or in several comments
  <!-- docs-check: wrap=function -->           the block is statements: wrap them in a function
                                               body (unused locals are then not an error)
  <!-- docs-check: continues -->               compile the block after the previous checked
                                               block of the same language in the same file
                                               (a fragment that uses what that block defined)
  <!-- docs-check: empty-file=trampoline.bin --> nasm: create an empty file of that name in the
                                               assembler's directory (for incbin)
  <!-- docs-check: skip reason="..." -->        not checked on purpose; the reason is printed
Directives combine: <!-- docs-check: prelude=kernel-stubs wrap=function -->. An unknown key, a
directive not followed by a fence, an unknown prelude or an unterminated fence is an error.

Output: one line per block, "FILE:LINE: LANG: ok|FAIL|skipped (...)" or
"FILE:LINE: not compiled: LANG" (LINE is the
opening fence), compiler messages below a failing block with the markdown file's line numbers;
the exit status is 1 if any block failed or the markdown was malformed, 2 on a usage error.
"""
import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

CXX_FLAGS = ['-std=c++20', '-ffreestanding', '-nostdinc++', '-fno-exceptions', '-fno-rtti',
             '-mno-red-zone', '-mgeneral-regs-only', '-mcmodel=kernel', '-fno-pic',
             '-Wall', '-Wextra', '-Werror', '-fsyntax-only']
C_FLAGS = ['-std=c11', '-ffreestanding', '-Wall', '-Wextra', '-Werror', '-fsyntax-only']

# tag -> language checked; None = listed as not compiled.
LANGUAGES = {
    'c++': 'c++', 'cpp': 'c++',
    'c': 'c',
    'nasm': 'nasm',
    'meson': None, 'make': None, 'sh': None, 'bash': None, 'console': None, 'text': None,
    '': None,
}
PRELUDE_EXT = {'c++': ['.hpp'], 'c': ['.h'], 'nasm': ['.asm', '.inc']}

FENCE_RE = re.compile(r'^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>.*)$')
DIRECTIVE_RE = re.compile(r'^(?P<indent> *)<!--\s*docs-check:(?P<body>.*?)-->\s*$')
TOKEN_RE = re.compile(r'\s*([A-Za-z][\w-]*)(?:=("(?:[^"\\]|\\.)*"|[^\s"]+))?')
KEYS = {'prelude', 'wrap', 'continues', 'empty-file', 'skip', 'reason'}
FLAG_KEYS = {'continues', 'skip'}


class Block:
    def __init__(self, path, line, indent, tag):
        self.path = path
        self.line = line          # 1-based line of the opening fence
        self.indent = indent
        self.tag = tag
        self.lines = []           # content lines, as in the file
        self.preludes = []
        self.wrap = None
        self.continues = False
        self.empty_files = []
        self.skip = None          # the reason, when skipped

    @property
    def first_line(self):
        return self.line + 1


def parse_directive(body, block, errors, where):
    pos = 0
    body = body.strip()
    tokens = {}
    while pos < len(body):
        m = TOKEN_RE.match(body, pos)
        if not m or m.end() == pos:
            errors.append(f'{where}: cannot parse docs-check directive near "{body[pos:]}"')
            return
        pos = m.end()
        while pos < len(body) and body[pos].isspace():
            pos += 1
        key, value = m.group(1), m.group(2)
        if value is not None and value.startswith('"'):
            value = re.sub(r'\\(.)', r'\1', value[1:-1])
        if key not in KEYS:
            errors.append(f'{where}: unknown docs-check key "{key}" '
                          f'(known: {", ".join(sorted(KEYS))})')
            continue
        if (key in FLAG_KEYS) != (value is None):
            errors.append(f'{where}: docs-check key "{key}" '
                          + ('takes no value' if key in FLAG_KEYS else 'needs a value'))
            continue
        tokens[key] = value
        if key == 'prelude':
            block.preludes += [p for p in value.split(',') if p]
        elif key == 'wrap':
            if value != 'function':
                errors.append(f'{where}: wrap={value}: only wrap=function exists')
            block.wrap = value
        elif key == 'continues':
            block.continues = True
        elif key == 'empty-file':
            if '/' in value or value in ('.', '..'):
                errors.append(f'{where}: empty-file={value}: a plain file name only')
            block.empty_files += [f for f in value.split(',') if f]
    if 'skip' in tokens:
        reason = tokens.get('reason', '').strip()
        if not reason:
            errors.append(f'{where}: skip needs reason="..."')
        block.skip = reason or '?'
    elif 'reason' in tokens:
        errors.append(f'{where}: reason= without skip')


def extract_blocks(path, text):
    """Returns (blocks, errors) of one markdown file."""
    blocks, errors = [], []
    pending = []          # (line number, indent, body) of directives waiting for their fence
    lines = text.split('\n')
    i = 0
    while i < len(lines):
        line = lines[i]
        lineno = i + 1
        d = DIRECTIVE_RE.match(line)
        if d:
            pending.append((lineno, len(d.group('indent')), d.group('body')))
            i += 1
            continue
        if '<!--' in line and 'docs-check' in line:
            errors.append(f'{path}:{lineno}: malformed docs-check comment (one line, '
                          f'"<!-- docs-check: ... -->", nothing else on the line)')
        f = FENCE_RE.match(line)
        if f and not (f.group('fence')[0] == '`' and '`' in f.group('info')):
            indent = len(f.group('indent'))
            fence = f.group('fence')
            info = f.group('info').strip()
            tag = info.split()[0].lower() if info else ''
            block = Block(path, lineno, indent, tag)
            for dline, dindent, body in pending:
                if dindent != indent:
                    errors.append(f'{path}:{dline}: docs-check comment indented {dindent}, '
                                  f'its fence on line {lineno} {indent}')
                parse_directive(body, block, errors, f'{path}:{dline}')
            pending = []
            close = re.compile(r'^ *' + re.escape(fence[0]) + '{' + str(len(fence)) + r',}\s*$')
            i += 1
            while i < len(lines) and not close.match(lines[i]):
                # Kept with the fence's indentation, so the compilers' columns are the
                # markdown file's (leading blanks mean nothing to C, C++ or nasm).
                block.lines.append(lines[i])
                i += 1
            if i >= len(lines):
                errors.append(f'{path}:{lineno}: code block never closed')
            blocks.append(block)
            i += 1
            continue
        if pending and line.strip():
            for dline, _, _ in pending:
                errors.append(f'{path}:{dline}: docs-check comment not right before a fence')
            pending = []
        i += 1
    for dline, _, _ in pending:
        errors.append(f'{path}:{dline}: docs-check comment not right before a fence')
    return blocks, errors


def tool_command(spec, target_for_clang):
    words = shlex.split(spec)
    if target_for_clang and 'clang' in os.path.basename(words[0]) and \
            not any(w.startswith('--target') or w == '-target' for w in words):
        words.append('--target=x86_64-elf')
    return words


def c_string(s):
    return '"' + s.replace('\\', '\\\\').replace('"', '\\"') + '"'


class Checker:
    def __init__(self, args, workdir):
        self.cxx = [tool_command(c, True) for c in args.cxx]
        self.cc = [tool_command(c, True) for c in args.cc]
        self.nasm = tool_command(args.nasm, False) if args.nasm else None
        self.includes = [os.path.abspath(d) for d in args.include]
        self.prelude_dir = os.path.abspath(args.preludes)
        self.workdir = workdir
        self.counter = 0
        self.previous = {}   # (file, language) -> translation unit of the last checked block

    def find_prelude(self, name, lang):
        for ext in [''] + PRELUDE_EXT[lang]:
            p = os.path.join(self.prelude_dir, name + ext)
            if os.path.isfile(p) and (ext or os.path.splitext(name)[1]):
                return p
        return None

    def unit(self, block, lang):
        """The translation unit of a block: prelude includes, then the block under #line."""
        self.counter += 1
        parts = []
        if block.continues:
            prev = self.previous.get((block.path, lang))
            if prev is None:
                raise ValueError('continues, but no earlier checked block of this language '
                                 'in this file')
            parts.append(prev)
        for name in block.preludes:
            p = self.find_prelude(name, lang)
            if p is None:
                raise ValueError(f'no prelude "{name}" ({", ".join(PRELUDE_EXT[lang])}) in '
                                 f'{self.prelude_dir}')
            parts.append(f'%include "{p}"' if lang == 'nasm' else f'#include {c_string(p)}')
        body = list(block.lines)
        if lang == 'nasm':
            parts.append(f'%line {block.first_line - 1}+1 {block.path}')  # nasm: the next line is N + 1
            parts += body
        else:
            if block.wrap == 'function':
                # Statements shown in isolation: the locals they declare are for the reader.
                parts.append('#pragma GCC diagnostic ignored "-Wunused-variable"')
                parts.append('#pragma GCC diagnostic ignored "-Wunused-but-set-variable"')
                parts.append(f'void docs_check_fragment_{self.counter}'
                             f'({"void" if lang == "c" else ""}) {{')
            parts.append(f'#line {block.first_line} {c_string(block.path)}')
            parts += body
            if block.wrap == 'function':
                parts.append('}')
        return '\n'.join(parts) + '\n'

    def commands(self, lang, src):
        inc = [f'-I{d}' for d in self.includes]
        if lang == 'c++':
            return [(os.path.basename(c[0]), c + CXX_FLAGS + inc + ['-x', 'c++', src])
                    for c in self.cxx]
        if lang == 'c':
            return [(os.path.basename(c[0]), c + C_FLAGS + inc + ['-x', 'c', src])
                    for c in self.cc]
        # incbin and %include look in the block's own directory first (empty-file stubs).
        return [(os.path.basename(self.nasm[0]),
                 self.nasm + ['-f', 'elf64', f'-I{os.path.dirname(src)}/'] +
                 [f'-I{d}/' for d in self.includes] + ['-o', os.devnull, src])] \
            if self.nasm else []

    def check(self, block):
        """Returns (ok, kind, status line, messages)."""
        where = f'{block.path}:{block.line}'
        if block.tag not in LANGUAGES:
            return False, 'FAIL', f'{where}: {block.tag}: FAIL', [
                f'unknown language tag "{block.tag}" (known: '
                f'{", ".join(t or "(untagged)" for t in LANGUAGES)})']
        lang = LANGUAGES[block.tag]
        shown = block.tag or 'untagged'
        if block.skip is not None:
            return True, 'skipped', f'{where}: {shown}: skipped ({block.skip})', []
        if lang is None:
            if block.preludes or block.wrap or block.continues or block.empty_files:
                return False, 'FAIL', f'{where}: {shown}: FAIL', [
                    'docs-check options on a block that is not compiled']
            return True, 'not compiled', f'{where}: not compiled: {shown}', []
        if block.empty_files and lang != 'nasm':
            return False, 'FAIL', f'{where}: {shown}: FAIL', ['empty-file is for nasm blocks']
        if block.wrap and lang == 'nasm':
            return False, 'FAIL', f'{where}: {shown}: FAIL', ['wrap is for C and C++ blocks']
        try:
            tu = self.unit(block, lang)
        except ValueError as e:
            return False, 'FAIL', f'{where}: {shown}: FAIL', [str(e)]
        self.previous[(block.path, lang)] = tu
        blockdir = tempfile.mkdtemp(prefix=f'block{self.counter}-', dir=self.workdir)
        src = os.path.join(blockdir, {'c++': 'block.cpp', 'c': 'block.c',
                                      'nasm': 'block.asm'}[lang])
        with open(src, 'w') as out:
            out.write(tu)
        for name in block.empty_files:
            open(os.path.join(blockdir, name), 'w').close()
        cmds = self.commands(lang, src)
        if not cmds:
            return False, 'FAIL', f'{where}: {shown}: FAIL', [
                f'no {lang} compiler given (--cxx, --cc or --nasm)']
        failed, messages = [], []
        for name, cmd in cmds:
            try:
                # Run where the markdown paths were given, so the compilers find the
                # markdown file that #line names and quote its lines.
                r = subprocess.run(cmd, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, timeout=300)
                out, rc = r.stdout, r.returncode
            except (OSError, subprocess.TimeoutExpired) as e:
                out, rc = str(e), -1
            if rc != 0:
                failed.append(name)
                messages.append(f'--- {name}: {shlex.join(cmd)}')
                messages += out.rstrip('\n').split('\n')
        used = ', '.join(n for n, _ in cmds)
        if failed:
            passed = [n for n, _ in cmds if n not in failed]
            detail = ', '.join(failed) + (f'; ok with {", ".join(passed)}' if passed else '')
            return False, 'FAIL', f'{where}: {shown}: FAIL ({detail})', messages
        return True, 'ok', f'{where}: {shown}: ok ({used})', []


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('files', nargs='+', metavar='FILE.md')
    ap.add_argument('--cxx', action='append', default=[], help='C++ compiler (repeatable)')
    ap.add_argument('--cc', action='append', default=[], help='C compiler (repeatable)')
    ap.add_argument('--nasm', help='nasm')
    ap.add_argument('-I', '--include', action='append', default=None,
                    help='include directory (repeatable; default: the repository\'s include/)')
    ap.add_argument('--preludes', default=os.path.join(here, 'preludes'),
                    help='prelude directory (default: %(default)s)')
    args = ap.parse_args(argv)
    if args.include is None:
        args.include = [os.path.join(here, '..', '..', 'include')]

    failures = 0
    counts = {}
    with tempfile.TemporaryDirectory(prefix='docs-check-') as workdir:
        checker = Checker(args, workdir)
        for path in args.files:
            try:
                with open(path, encoding='utf-8') as f:
                    text = f.read()
            except OSError as e:
                print(f'{path}: FAIL: {e}')
                failures += 1
                continue
            blocks, errors = extract_blocks(path, text)
            for e in errors:
                print(f'{e}: FAIL')
                failures += 1
            if not blocks:
                print(f'{path}: no code blocks')
            for block in blocks:
                ok, kind, status, messages = checker.check(block)
                print(status)
                for m in messages:
                    print('    ' + m)
                sys.stdout.flush()
                counts[kind] = counts.get(kind, 0) + 1
                failures += not ok
    summary = ', '.join(f'{n} {k}' for k, n in sorted(counts.items()))
    print(f'{sum(counts.values())} blocks: {summary or "none"}; '
          f'{failures} failure{"s" if failures != 1 else ""}')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
