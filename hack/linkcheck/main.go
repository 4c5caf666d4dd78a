/*
Copyright 2026 The Agora Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Command linkcheck checks the relative links and images of the repository's Markdown files:
// the target must be a file or directory of the repository (tracked, or new and not ignored by
// git), and a #fragment into a Markdown file must name one of its headings, slugged as GitHub
// does. Links with a scheme (https:, mailto:, ...) are not followed: nothing here may reach the
// internet, and an external page's state is not the repository's. Links inside fenced code
// blocks, inline code and HTML comments are not links.
//
//	go run ./hack/linkcheck             # every *.md of the repository (make linkcheck)
//	go run ./hack/linkcheck FILE.md...  # just these
//
// Each broken link is printed as FILE:LINE: broken link TARGET (reason); the exit status is then 1.
package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// skipDirs are directories whose Markdown is not the repository's own: generated output and
// copies of other projects.
var skipDirs = map[string]bool{"_output": true, "vendor": true, "node_modules": true, "third_party": true, "testdata": true}

func main() {
	root, err := gitOutput("rev-parse", "--show-toplevel")
	if err != nil {
		fatal(err)
	}
	root = strings.TrimSpace(string(root))
	// Tracked files and new ones that are not ignored: a link to a file nobody has committed yet
	// is fine before the commit, a link to an ignored file (bin/, _output/) never is.
	out, err := gitOutput("-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	if err != nil {
		fatal(err)
	}
	var files []string
	for _, f := range strings.Split(strings.TrimSuffix(out, "\x00"), "\x00") {
		if _, err := os.Lstat(filepath.Join(root, filepath.FromSlash(f))); err == nil {
			files = append(files, f) // a tracked file deleted in the work tree is gone
		}
	}
	c := newChecker(root, files)

	var check []string
	if len(os.Args) > 1 {
		wd, err := os.Getwd()
		if err != nil {
			fatal(err)
		}
		for _, a := range os.Args[1:] {
			abs := a
			if !filepath.IsAbs(abs) {
				abs = filepath.Join(wd, a)
			}
			rel, err := filepath.Rel(root, abs)
			if err != nil || strings.HasPrefix(rel, "..") {
				fatal(fmt.Errorf("%s is not inside the repository %s", a, root))
			}
			check = append(check, filepath.ToSlash(rel))
		}
	} else {
		check = markdownFiles(files)
	}

	var problems []problem
	links := 0
	for _, f := range check {
		p, n, err := c.checkFile(f)
		if err != nil {
			fatal(err)
		}
		problems = append(problems, p...)
		links += n
	}
	for _, p := range problems {
		fmt.Println(p)
	}
	if len(problems) > 0 {
		fmt.Fprintf(os.Stderr, "linkcheck: %d broken link(s) in %d Markdown files\n", len(problems), len(check))
		os.Exit(1)
	}
	fmt.Printf("linkcheck: %d relative links in %d Markdown files, none broken\n", links, len(check))
}

func gitOutput(args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "linkcheck:", err)
	os.Exit(2)
}

// markdownFiles returns the *.md files among files, without those under skipDirs, sorted.
func markdownFiles(files []string) []string {
	var md []string
next:
	for _, f := range files {
		if !strings.HasSuffix(f, ".md") {
			continue
		}
		for _, dir := range strings.Split(path.Dir(f), "/") {
			if skipDirs[dir] {
				continue next
			}
		}
		md = append(md, f)
	}
	sort.Strings(md)
	return md
}

// problem is one broken link.
type problem struct {
	File   string
	Line   int
	Target string
	Reason string
}

func (p problem) String() string {
	return fmt.Sprintf("%s:%d: broken link %s (%s)", p.File, p.Line, p.Target, p.Reason)
}

// checker knows the repository's files and, once read, the anchors of its Markdown files.
type checker struct {
	root    string
	files   map[string]bool // slash-separated, relative to root
	dirs    map[string]bool // every directory holding one of files, and "."
	anchors map[string]map[string]bool
}

func newChecker(root string, files []string) *checker {
	c := &checker{root: root, files: map[string]bool{}, dirs: map[string]bool{".": true}, anchors: map[string]map[string]bool{}}
	for _, f := range files {
		c.files[f] = true
		for d := path.Dir(f); d != "." && !c.dirs[d]; d = path.Dir(d) {
			c.dirs[d] = true
		}
	}
	return c
}

// checkFile returns the broken links of the Markdown file file and how many relative links it has.
func (c *checker) checkFile(file string) ([]problem, int, error) {
	src, err := os.ReadFile(filepath.Join(c.root, filepath.FromSlash(file)))
	if err != nil {
		return nil, 0, err
	}
	var problems []problem
	n := 0
	for _, l := range extractLinks(string(src)) {
		if external(l.Target) {
			continue
		}
		n++
		if reason := c.checkTarget(file, l.Target); reason != "" {
			problems = append(problems, problem{File: file, Line: l.Line, Target: l.Target, Reason: reason})
		}
	}
	return problems, n, nil
}

var schemeRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)

// external reports whether target leaves the repository: a scheme (https:, mailto:) or a
// protocol-relative //host.
func external(target string) bool {
	return schemeRE.MatchString(target) || strings.HasPrefix(target, "//")
}

// checkTarget returns why the relative link target in file is broken, or "".
func (c *checker) checkTarget(file, target string) string {
	p, fragment, _ := strings.Cut(target, "#")
	p, _, _ = strings.Cut(p, "?")
	if u, err := unescape(p); err == nil {
		p = u
	}
	var resolved string
	switch {
	case p == "":
		resolved = file
	case strings.HasPrefix(p, "/"): // GitHub resolves these from the repository's root
		resolved = path.Clean(strings.TrimLeft(p, "/"))
	default:
		resolved = path.Join(path.Dir(file), p)
	}
	if resolved == ".." || strings.HasPrefix(resolved, "../") {
		return "outside the repository"
	}
	if !c.files[resolved] && !c.dirs[resolved] {
		if _, err := os.Stat(filepath.Join(c.root, filepath.FromSlash(resolved))); err == nil {
			return "ignored by git: not in the repository"
		}
		return "no such file or directory"
	}
	if fragment == "" || !c.files[resolved] || !strings.HasSuffix(resolved, ".md") {
		// Anchors into code files (#L10) and directories are GitHub's business.
		return ""
	}
	if u, err := unescape(fragment); err == nil {
		fragment = u
	}
	anchors, err := c.anchorsOf(resolved)
	if err != nil {
		return err.Error()
	}
	if anchors[fragment] {
		return ""
	}
	if resolved == file {
		return "no heading #" + fragment + " in this file"
	}
	return "no heading #" + fragment + " in " + resolved
}

func (c *checker) anchorsOf(file string) (map[string]bool, error) {
	if a, ok := c.anchors[file]; ok {
		return a, nil
	}
	src, err := os.ReadFile(filepath.Join(c.root, filepath.FromSlash(file)))
	if err != nil {
		return nil, err
	}
	a := headingAnchors(string(src))
	c.anchors[file] = a
	return a, nil
}

// unescape decodes %XX escapes; a stray % is left alone (url.PathUnescape would reject it).
func unescape(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	if !utf8.ValidString(b.String()) {
		return s, fmt.Errorf("invalid UTF-8 after unescaping %q", s)
	}
	return b.String(), nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// link is a link or image destination and the line it is on.
type link struct {
	Line   int
	Target string
}

var htmlLinkRE = regexp.MustCompile(`(?is)<(?:a|img|source)\b[^>]*?\s(?:href|src)\s*=\s*(?:"([^"]*)"|'([^']*)')`)

// extractLinks returns the destinations of the inline links and images, link reference
// definitions and HTML <a href>/<img src> of a Markdown document, in order, leaving out
// everything in code (fenced blocks, inline code spans) and in HTML comments.
func extractLinks(src string) []link {
	text := maskCodeSpans(maskFences(src))
	lineStarts := []int{0}
	for i := 0; i < len(text); i++ {
		if text[i] == '\n' {
			lineStarts = append(lineStarts, i+1)
		}
	}
	lineOf := func(off int) int { return sort.SearchInts(lineStarts, off+1) }

	type found struct {
		off    int
		target string
	}
	var all []found
	var open []int // offsets of the unmatched '[' of the current paragraph
	for i := 0; i < len(text); i++ {
		switch text[i] {
		case '\\':
			i++ // an escaped character is never markup
		case '\n':
			if blankFrom(text, i+1) {
				open = open[:0] // a link never spans paragraphs
			}
		case '[':
			open = append(open, i)
		case ']':
			if len(open) == 0 {
				continue
			}
			start := open[len(open)-1]
			open = open[:len(open)-1]
			switch {
			case i+1 < len(text) && text[i+1] == '(':
				if dest, off, end, ok := parseDestination(text, i+2, ')'); ok {
					if dest != "" {
						all = append(all, found{off, dest})
					}
					i = end
				}
			case i+1 < len(text) && text[i+1] == ':' && atLineStart(text, start):
				// [label]: destination "title"
				if dest, off, end, ok := parseDestination(text, i+2, '\n'); ok && dest != "" {
					all = append(all, found{off, dest})
					i = end - 1
				}
			}
		}
	}
	for _, m := range htmlLinkRE.FindAllStringSubmatchIndex(text, -1) {
		if m[2] >= 0 {
			all = append(all, found{m[2], text[m[2]:m[3]]})
		} else {
			all = append(all, found{m[4], text[m[4]:m[5]]})
		}
	}
	sort.SliceStable(all, func(a, b int) bool { return all[a].off < all[b].off })
	links := make([]link, 0, len(all))
	for _, f := range all {
		links = append(links, link{Line: lineOf(f.off), Target: f.target})
	}
	return links
}

// blankFrom reports whether the line starting at i is blank.
func blankFrom(text string, i int) bool {
	for ; i < len(text) && text[i] != '\n'; i++ {
		if text[i] != ' ' && text[i] != '\t' {
			return false
		}
	}
	return true
}

// atLineStart reports whether only up to three spaces precede offset i on its line.
func atLineStart(text string, i int) bool {
	n := 0
	for i--; i >= 0 && text[i] != '\n'; i-- {
		if text[i] != ' ' {
			return false
		}
		n++
	}
	return n <= 3
}

// parseDestination parses a link destination and an optional title starting at i (just after
// "(" of an inline link, or after "]:" of a reference definition), then expects the closer:
// ')' for an inline link, the end of the line for a definition. It returns the destination,
// its offset and the offset just past the closer; ok is false when the text is not a link
// (as in "[a](b c)", which CommonMark leaves as text).
func parseDestination(text string, i int, closer byte) (dest string, off, end int, ok bool) {
	i = skipSpace(text, i, true)
	off = i
	var b strings.Builder
	if i < len(text) && text[i] == '<' {
		j := i + 1
		for ; j < len(text) && text[j] != '>'; j++ {
			if text[j] == '\n' || text[j] == '<' {
				return "", 0, 0, false
			}
			if text[j] == '\\' && j+1 < len(text) && isASCIIPunct(text[j+1]) {
				j++
			}
			b.WriteByte(text[j])
		}
		if j == len(text) {
			return "", 0, 0, false
		}
		off, i = i+1, j+1
	} else {
		depth := 0
	scan:
		for ; i < len(text); i++ {
			c := text[i]
			switch {
			case c == '\\' && i+1 < len(text) && isASCIIPunct(text[i+1]):
				i++
				c = text[i]
			case c == ' ' || c == '\t' || c == '\n' || c < 0x20:
				break scan
			case c == '(':
				depth++
			case c == ')':
				if depth == 0 {
					break scan
				}
				depth--
			}
			b.WriteByte(c)
		}
		if depth != 0 {
			return "", 0, 0, false
		}
	}
	dest = b.String()
	// An optional title: "...", '...' or (...), separated from the destination by space.
	j := skipSpace(text, i, closer == ')')
	if j > i && j < len(text) && (text[j] == '"' || text[j] == '\'' || text[j] == '(') {
		end := text[j]
		if end == '(' {
			end = ')'
		}
		k := j + 1
		for ; k < len(text) && text[k] != end; k++ {
			if text[k] == '\\' {
				k++
			}
		}
		if k >= len(text) {
			return "", 0, 0, false
		}
		j = skipSpace(text, k+1, closer == ')')
	}
	if closer == '\n' {
		if j == len(text) {
			return dest, off, j, true
		}
		if text[j] == '\n' {
			return dest, off, j + 1, true
		}
		return "", 0, 0, false
	}
	if j < len(text) && text[j] == closer {
		return dest, off, j, true
	}
	return "", 0, 0, false
}

// skipSpace skips spaces and tabs from i and, when newline, one line break among them.
func skipSpace(text string, i int, newline bool) int {
	for ; i < len(text); i++ {
		switch text[i] {
		case ' ', '\t':
		case '\n':
			if !newline {
				return i
			}
			newline = false
		default:
			return i
		}
	}
	return i
}

func isASCIIPunct(c byte) bool {
	return strings.IndexByte("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", c) >= 0
}

var fenceRE = regexp.MustCompile("^[ \t]*(`{3,}|~{3,})(.*)$")

// maskFences blanks the fenced code blocks (fences included) and the HTML comments of src,
// keeping every line break so that offsets still give line numbers. Fences are recognised at
// any indentation: inside a list item they are indented by the item's width.
func maskFences(src string) string {
	lines := strings.SplitAfter(src, "\n")
	var b strings.Builder
	fence := "" // the opening fence while inside a block
	for _, l := range lines {
		body := strings.TrimRight(l, "\r\n")
		if fence == "" {
			if m := fenceRE.FindStringSubmatch(body); m != nil && (m[1][0] != '`' || !strings.Contains(m[2], "`")) {
				fence = m[1]
				b.WriteString(l[len(body):])
				continue
			}
			b.WriteString(l)
			continue
		}
		t := strings.TrimSpace(body)
		if len(t) >= len(fence) && strings.Trim(t, fence[:1]) == "" {
			fence = ""
		}
		b.WriteString(l[len(body):])
	}
	return maskComments(b.String())
}

// maskComments blanks <!-- ... --> (an unclosed comment runs to the end).
func maskComments(s string) string {
	out := []byte(s)
	for i := 0; ; {
		start := strings.Index(s[i:], "<!--")
		if start < 0 {
			break
		}
		start += i
		end := strings.Index(s[start+4:], "-->")
		if end < 0 {
			end = len(s)
		} else {
			end += start + 4 + 3
		}
		blank(out, start, end)
		i = end
	}
	return string(out)
}

func blank(b []byte, from, to int) {
	for i := from; i < to; i++ {
		if b[i] != '\n' {
			b[i] = ' '
		}
	}
}

// codeSpans returns the [start, end) byte ranges of the inline code spans of s, backticks
// included: a run of n backticks up to the next run of exactly n, within one paragraph.
func codeSpans(s string) [][2]int {
	var spans [][2]int
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
			continue
		case '`':
		default:
			continue
		}
		n := runLen(s, i, '`')
		j := i + n
		for j < len(s) {
			if s[j] == '\n' && blankFrom(s, j+1) {
				break
			}
			if s[j] == '`' {
				m := runLen(s, j, '`')
				if m == n {
					spans = append(spans, [2]int{i, j + m})
					break
				}
				j += m
				continue
			}
			j++
		}
		if len(spans) > 0 && spans[len(spans)-1][0] == i {
			i = spans[len(spans)-1][1] - 1
		} else {
			i += n - 1 // an unmatched run is literal backticks
		}
	}
	return spans
}

func runLen(s string, i int, c byte) int {
	n := 0
	for i+n < len(s) && s[i+n] == c {
		n++
	}
	return n
}

func maskCodeSpans(s string) string {
	out := []byte(s)
	for _, sp := range codeSpans(s) {
		blank(out, sp[0], sp[1])
	}
	return string(out)
}

var (
	atxRE          = regexp.MustCompile(`^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*$`)
	atxCloseRE     = regexp.MustCompile(`(?:^|[ \t]+)#+$`)
	setextRE       = regexp.MustCompile(`^ {0,3}(?:=+|-+)[ \t]*$`)
	notParagraphRE = regexp.MustCompile(`^(?: {4}|\t| {0,3}(?:[-+*>#|]|\d+[.)])(?:[ \t]|$))`)
	htmlIDRE       = regexp.MustCompile(`(?is)<[a-z][^>]*?\s(?:id|name)\s*=\s*(?:"([^"]*)"|'([^']*)')`)
)

// headingAnchors returns the anchors GitHub gives a Markdown document: one per heading, slugged
// from the heading's text (duplicates get -1, -2, ...), plus the id and name attributes of its
// HTML elements.
func headingAnchors(src string) map[string]bool {
	text := maskFences(src)
	lines := strings.Split(text, "\n")
	s := newSlugger()
	anchors := map[string]bool{}
	for i, l := range lines {
		l = strings.TrimRight(l, "\r")
		if m := atxRE.FindStringSubmatch(l); m != nil {
			anchors[s.slug(headingText(atxCloseRE.ReplaceAllString(m[2], "")))] = true
			continue
		}
		if i > 0 && setextRE.MatchString(l) {
			prev := strings.TrimRight(lines[i-1], "\r")
			if strings.TrimSpace(prev) != "" && !notParagraphRE.MatchString(prev) {
				anchors[s.slug(headingText(prev))] = true
			}
		}
	}
	for _, m := range htmlIDRE.FindAllStringSubmatch(text, -1) {
		anchors[m[1]+m[2]] = true
	}
	return anchors
}

var (
	imageOrLinkRE = regexp.MustCompile(`!?\[([^\]]*)\](?:\([^)]*\)|\[[^\]]*\])`)
	htmlTagRE     = regexp.MustCompile(`</?[a-zA-Z][^>]*>`)
)

// headingText is the text a heading renders to, as GitHub slugs it: code spans keep their
// content, links and images their text, HTML tags, backslash escapes and emphasis
// underscores go (other emphasis marks are punctuation, which the slug drops anyway).
func headingText(h string) string {
	var b strings.Builder
	last := 0
	plain := func(s string) {
		s = imageOrLinkRE.ReplaceAllString(s, "$1")
		s = htmlTagRE.ReplaceAllString(s, "")
		s = dropEmphasisUnderscores(s)
		for i := 0; i < len(s); i++ {
			if s[i] == '\\' && i+1 < len(s) && isASCIIPunct(s[i+1]) {
				i++
			}
			b.WriteByte(s[i])
		}
	}
	for _, sp := range codeSpans(h) {
		plain(h[last:sp[0]])
		n := runLen(h, sp[0], '`')
		code := h[sp[0]+n : sp[1]-n]
		if len(code) >= 2 && code[0] == ' ' && code[len(code)-1] == ' ' && strings.TrimSpace(code) != "" {
			code = code[1 : len(code)-1]
		}
		b.WriteString(code)
		last = sp[1]
	}
	plain(h[last:])
	return strings.TrimSpace(b.String())
}

// dropEmphasisUnderscores removes runs of _ that open or close emphasis (at a word's edge),
// keeping the ones inside a word (snake_case).
func dropEmphasisUnderscores(s string) string {
	r := []rune(s)
	var out []rune
	for i := 0; i < len(r); {
		if r[i] != '_' {
			out = append(out, r[i])
			i++
			continue
		}
		j := i
		for j < len(r) && r[j] == '_' {
			j++
		}
		inWord := i > 0 && isWordRune(r[i-1]) && j < len(r) && isWordRune(r[j])
		if inWord {
			out = append(out, r[i:j]...)
		}
		i = j
	}
	return string(out)
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// slugger turns heading texts into GitHub's anchors (github-slugger): lower case; drop every
// character but letters, marks, decimal and letter numbers, connector punctuation (_), '-' and
// ' '; each space becomes '-'. A slug seen before gets -1, -2, ... appended.
type slugger struct{ seen map[string]int }

func newSlugger() *slugger { return &slugger{seen: map[string]int{}} }

func (s *slugger) slug(text string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || unicode.IsLetter(r) || unicode.IsMark(r) || unicode.In(r, unicode.Nd, unicode.Nl, unicode.Pc, unicode.Other_Alphabetic):
			b.WriteRune(r)
		}
	}
	base := b.String()
	slug := base
	for {
		if _, dup := s.seen[slug]; !dup {
			break
		}
		s.seen[base]++
		slug = fmt.Sprintf("%s-%d", base, s.seen[base])
	}
	s.seen[slug] = 0
	return slug
}
