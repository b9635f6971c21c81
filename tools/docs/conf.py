# Minimal Sphinx configuration for checking the pages touched by the perf
# support patch set, without CPython's own Doc/conf.py and its extensions.
#
# build-docs.sh copies the touched pages into a temporary source directory
# and sets PERFDOCS_FULL_DOC to the Doc/ directory of the patched CPython
# tree.  That directory is only read, to tell a reference to a page or
# target that exists in the full documentation (but was not copied) from a
# genuinely broken one:
#
# * toctree entries naming a page of the full Doc/ tree that is not part of
#   this build are dropped; other missing entries still warn;
# * :ref:, :keyword:, :option:, :envvar:, :term: and :doc: references whose
#   target is defined in the full Doc/ tree resolve to plain text; other
#   unresolved references still warn;
# * Python and C references (and :envvar:) are checked too, although
#   nitpicky is off, in the pages written for the patch set (STRICT_DOCS)
#   and wherever they name the patch set's own objects (STRICT_TARGET_RE):
#   they must resolve in this build or in the full Doc/ tree.
#
# CPython-specific directives and roles (availability, audit-event,
# impl-detail, deprecated-removed, :source:, :gh:, :issue:) are replaced by
# small stubs that render their text without links.

import os
import re

from docutils import nodes
from sphinx.directives.other import TocTree
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

project = 'Python (perf support patch set, partial build)'
copyright = 'Python Software Foundation'
version = release = '3.11'
root_doc = 'index'
extensions = []
exclude_patterns = ['_build']
html_theme = 'default'
html_theme_options = {'nosidebar': True}
# No search index, no copied sources: only the rendering is checked.
html_copy_source = False
html_use_index = False

FULL_DOC = os.environ.get('PERFDOCS_FULL_DOC', '')


# Documents written for the patch set: every cross-reference in them must
# resolve, in this build or in the full Doc/ tree.  Elsewhere (pristine
# pages that the patch set extends) the same holds for references to the
# patch set's own names.
STRICT_DOCS = {'howto/perf_profiling', 'c-api/perfmaps', 'news'}
STRICT_TARGET_RE = re.compile(r'trampolin|perf|PyUnstable', re.I)


# --- What the full Doc/ tree defines ---------------------------------------

_LABEL_RE = re.compile(r'^\s*\.\. _([^:`]+|`[^`]+`):\s*$')
_OPTION_RE = re.compile(r'^\s*\.\. (?:cmdoption|option):: (.+)$')
_ENVVAR_RE = re.compile(r'^\s*\.\. envvar:: (\S+)')
_PY_RE = re.compile(
    r'^(\s*)\.\. (?:py:)?(module|currentmodule|function|method|classmethod'
    r'|staticmethod|class|exception|data|attribute|decorator'
    r'|decoratormethod|property|coroutinefunction|coroutinemethod'
    r'|abstractmethod):: *(.*)$')
_C_RE = re.compile(r'^\s*\.\. c:(?:function|macro|type|struct|union|enum'
                   r'|enumerator|member|var|data):: *(.+)$')


def _scan_full_doc(root):
    found = {'label': set(), 'option': set(), 'envvar': set(),
             'term': set(), 'doc': set(), 'py': set(), 'c': set()}
    if not root or not os.path.isdir(root):
        return found
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames
                       if d not in ('build', 'venv', 'tools')]
        for name in filenames:
            if name.endswith('.rst'):
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root)[:-len('.rst')]
                found['doc'].add(rel.replace(os.sep, '/'))
                _scan_page(path, found)
    return found


def _add_py(found, fullname):
    # Sphinx resolves a Python reference by any dotted suffix of the full
    # name (with the module and class context of the reference): accept
    # every suffix.
    parts = fullname.split('.')
    for i in range(len(parts)):
        found['py'].add('.'.join(parts[i:]))


def _scan_page(path, found):
    with open(path, encoding='utf-8', errors='replace') as f:
        lines = f.read().splitlines()
    module = cls = None
    in_glossary = False
    # A directive may list several signatures, one per line, aligned with
    # the first ("execv(path, args)" under ".. function:: execl(...)").
    more_sigs = None            # (column, indent, kind) of the last one
    for line in lines:
        if more_sigs:
            column, indent, kind = more_sigs
            if (len(line) > column and not line[:column].strip()
                    and not line[column].isspace()):
                line = f"{indent}.. {kind}:: {line[column:]}"
            else:
                more_sigs = None
        m = _LABEL_RE.match(line)
        if m:
            found['label'].add(m.group(1).strip('`').lower())
        m = _OPTION_RE.match(line)
        if m:
            for sig in m.group(1).split(','):
                if sig.split():
                    found['option'].add(sig.split()[0].split('=')[0])
        m = _ENVVAR_RE.match(line)
        if m:
            found['envvar'].add(m.group(1).split('=')[0])
        m = _C_RE.match(line)
        if m:
            decl = m.group(1).split('(')[0]
            found['c'].update(re.findall(r'[A-Za-z_][\w.]*', decl)[-1:])
            found['c'].update(re.findall(r'[A-Za-z_]\w*', decl)[-1:])
        m = _PY_RE.match(line)
        if m:
            indent, kind, sig = m.groups()
            more_sigs = (m.start(3), indent, kind)
            name = re.split(r'[\s(\[]', sig.strip(), 1)[0]
            if kind in ('module', 'currentmodule'):
                module = None if name in ('', 'None') else name
                cls = None
                if name and kind == 'module':
                    _add_py(found, name)
            elif name:
                if not indent:
                    cls = name if kind in ('class', 'exception') else None
                    _add_py(found, '.'.join(filter(None, [module, name])))
                else:
                    _add_py(found, '.'.join(filter(None,
                                                   [module, cls, name])))
        if line.startswith('.. glossary::'):
            in_glossary = True
        elif in_glossary and re.match(r'^\S', line):
            in_glossary = False
        elif in_glossary and re.match(r'^   \S', line):
            found['term'].add(line.strip().lower())


_FULL = _scan_full_doc(FULL_DOC)


def _defined_in_full_doc(node):
    domain = node.get('refdomain')
    reftype = node.get('reftype')
    target = node.get('reftarget', '')
    if domain == 'py':
        return target.lstrip('.~') in _FULL['py']
    if domain == 'c':
        return target in _FULL['c']
    if reftype in ('ref', 'keyword'):
        return target.lower() in _FULL['label']
    if reftype == 'option':
        words = target.split()
        # "-X" or "python -X": the option is the last word.
        return bool(words) and words[-1].split('=')[0] in _FULL['option']
    if reftype == 'envvar':
        return target in _FULL['envvar']
    if reftype == 'term':
        return target.lower() in _FULL['term']
    if reftype == 'doc':
        if target.startswith('/'):
            doc = target.lstrip('/')
        else:
            base = os.path.dirname(node.get('refdoc', ''))
            doc = os.path.normpath(os.path.join(base, target))
        return doc.replace(os.sep, '/') in _FULL['doc']
    return False


def _on_missing_reference(app, env, node, contnode):
    domain = node.get('refdomain')
    reftype = node.get('reftype')
    if _defined_in_full_doc(node):
        # Leave Python and C references as Sphinx renders any unresolved
        # one; answer the standard domain's, which would warn.
        return contnode if domain not in ('py', 'c') else None
    target = node.get('reftarget', '')
    # Sphinx itself warns about unresolved :ref:, :option:, :term:, :doc:
    # (and, as nitpicky is off, about no others).
    if domain in ('py', 'c') or reftype == 'envvar':
        if (node.get('refdoc') in STRICT_DOCS
                or STRICT_TARGET_RE.search(target)):
            logger.warning('%s:%s reference target not found: %s',
                           domain, reftype, target, location=node)
    return None


class PartialTocTree(TocTree):
    """toctree that skips pages of the full Doc/ tree not copied here."""

    def run(self):
        env = self.state.document.settings.env
        base = os.path.dirname(env.docname)
        kept = []
        for entry in self.content:
            m = re.match(r'^(.*?)\s*<([^>]+)>$', entry.strip())
            ref = m.group(2) if m else entry.strip()
            ref = re.sub(r'\.rst$', '', ref)
            doc = os.path.normpath(os.path.join(base, ref)).replace(os.sep,
                                                                    '/')
            if (ref and doc not in env.found_docs
                    and doc in _FULL['doc']):
                continue
            kept.append(entry)
        self.content = type(self.content)(kept)
        return super().run()


# --- Stubs for CPython-specific markup --------------------------------------

class _StubDirective(SphinxDirective):
    has_content = True
    final_argument_whitespace = True
    option_spec = {}

    def parse_content(self, container=None):
        """Parse the directive's content into *container* (a new one by
        default); return [container], or [] if there is no content."""
        if container is None:
            if not self.content:
                return []
            container = nodes.container()
        self.state.nested_parse(self.content, self.content_offset, container)
        return [container]


class Availability(_StubDirective):
    required_arguments = 0
    optional_arguments = 1

    def run(self):
        para = nodes.paragraph()
        para += nodes.emphasis(text='Availability')
        para += nodes.Text(': ' + (self.arguments[0] if self.arguments
                                   else ''))
        return [para] + self.parse_content()


class AuditEvent(_StubDirective):
    required_arguments = 1
    optional_arguments = 2

    def run(self):
        if self.content:
            return self.parse_content()
        name = self.arguments[0]
        args = self.arguments[1] if len(self.arguments) > 1 else ''
        args = args.strip('"')
        text = 'Raises an auditing event %s' % name
        if args:
            text += ' with arguments %s' % args
        return [nodes.paragraph(text=text + '.')]


class ImplDetail(_StubDirective):
    required_arguments = 0
    optional_arguments = 1

    def run(self):
        container = nodes.compound(classes=['impl-detail'])
        label = (self.arguments[0] if self.arguments
                 else 'CPython implementation detail:')
        para = nodes.paragraph()
        para += nodes.strong(text=label)
        container += para
        return self.parse_content(container)


class DeprecatedRemoved(_StubDirective):
    required_arguments = 2
    optional_arguments = 1

    def run(self):
        text = 'Deprecated since version %s, removed in version %s' % (
            self.arguments[0], self.arguments[1])
        para = nodes.paragraph()
        para += nodes.emphasis(text=text + ': ')
        if len(self.arguments) > 2:
            para += nodes.Text(self.arguments[2])
        return [para] + self.parse_content()


def _text_role(prefix=''):
    def role(name, rawtext, text, lineno, inliner, options=None,
             content=None):
        return [nodes.literal(rawtext, prefix + text)], []
    return role


def setup(app):
    app.connect('missing-reference', _on_missing_reference)
    app.add_directive('toctree', PartialTocTree, override=True)
    app.add_directive('availability', Availability)
    app.add_directive('audit-event', AuditEvent)
    app.add_directive('impl-detail', ImplDetail)
    app.add_directive('deprecated-removed', DeprecatedRemoved)
    app.add_role('source', _text_role())
    app.add_role('gh', _text_role('gh-'))
    app.add_role('issue', _text_role('bpo-'))
    return {'parallel_read_safe': True, 'parallel_write_safe': True}
