package deb

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/fetchkit/fetch/repo"
)

// Default bounds of a [Reader]: Debian's largest Release is one paragraph
// of some hundreds of KiB, its longest Packages lines some tens of KiB.
const (
	DefaultMaxLine      = 1 << 20
	DefaultMaxParagraph = 32 << 20
)

// A Field is one field of a control paragraph.
type Field struct {
	Name string
	// Value is the field's value without the white space around it; the
	// lines of a multi-line field follow its first line (empty for a field
	// such as SHA256 whose value starts on the next line), each after a
	// "\n" and without its leading white space.
	Value string
	// Line is the line of the file where the field starts.
	Line int
}

// A Paragraph is one paragraph of a control file (deb822): a package of a
// Packages index, the whole of a Release file.
type Paragraph struct {
	Fields []Field
	// Line is the line of the file where the paragraph starts.
	Line int
}

// Field returns the field of p named name, compared without regard to
// case as deb822 says, and whether p has it.
func (p *Paragraph) Field(name string) (Field, bool) {
	for _, f := range p.Fields {
		if strings.EqualFold(f.Name, name) {
			return f, true
		}
	}
	return Field{}, false
}

// Value returns the value of the field name, or "" when p has none.
func (p *Paragraph) Value(name string) string {
	f, _ := p.Field(name)
	return f.Value
}

// A Reader reads the paragraphs of a control file (deb822: Release,
// Packages, Sources) one at a time, as [archive/tar.Reader] reads entries:
// it keeps one paragraph, never the file. Comment lines (starting with
// "#") are skipped. A line that is neither a field, a continuation nor
// blank, a field given twice in a paragraph, a line longer than MaxLine
// or a paragraph larger than MaxParagraph gives a [*repo.FormatError]
// with the line and column.
type Reader struct {
	// File names the file in errors.
	File string
	// MaxLine and MaxParagraph bound a line's and a paragraph's bytes;
	// zero means DefaultMaxLine and DefaultMaxParagraph.
	MaxLine, MaxParagraph int

	r    *bufio.Reader
	line int
	err  error
}

// NewReader returns a Reader of r, a file that errors call file.
func NewReader(r io.Reader, file string) *Reader {
	return &Reader{File: file, r: bufio.NewReaderSize(r, 64<<10)}
}

// Next returns the next paragraph, or io.EOF after the last one. After an
// error, Next returns it again.
func (r *Reader) Next() (*Paragraph, error) {
	if r.err != nil {
		return nil, r.err
	}
	p, err := r.next()
	if err != nil {
		r.err = err
	}
	return p, err
}

func (r *Reader) next() (*Paragraph, error) {
	maxLine, maxPara := r.MaxLine, r.MaxParagraph
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	if maxPara <= 0 {
		maxPara = DefaultMaxParagraph
	}
	var p *Paragraph
	size := 0
	var value strings.Builder // of the last field, while it goes on
	end := func() {
		if p != nil && len(p.Fields) > 0 && value.Len() > 0 {
			last := &p.Fields[len(p.Fields)-1]
			last.Value = value.String()
		}
		value.Reset()
	}
	for {
		line, err := r.readLine(maxLine)
		if err == io.EOF {
			end()
			if p == nil {
				return nil, io.EOF
			}
			return p, nil
		}
		if err != nil {
			return nil, err
		}
		trimmed := bytes.TrimRight(line, " \t\r")
		switch {
		case len(trimmed) == 0: // a blank line ends a paragraph
			if p != nil {
				end()
				return p, nil
			}
			continue
		case line[0] == '#':
			continue
		}
		size += len(line)
		if size > maxPara {
			return nil, r.errorf(1, "paragraph larger than %d bytes", maxPara)
		}
		if p == nil {
			p = &Paragraph{Line: r.line}
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(p.Fields) == 0 {
				return nil, r.errorf(1, "continuation line before any field")
			}
			last := &p.Fields[len(p.Fields)-1]
			if value.Len() == 0 {
				value.WriteString(last.Value)
			}
			value.WriteByte('\n')
			value.Write(bytes.TrimSpace(trimmed))
			continue
		}
		end()
		colon := bytes.IndexByte(trimmed, ':')
		if colon <= 0 {
			return nil, r.errorf(1, "not a field (Name: value), a continuation or a blank line")
		}
		name := string(trimmed[:colon])
		if i := strings.IndexAny(name, " \t"); i >= 0 {
			return nil, r.errorf(i+1, "white space in field name %q", name)
		}
		if _, dup := p.Field(name); dup {
			return nil, r.errorf(1, "field %s given twice in the paragraph", name)
		}
		p.Fields = append(p.Fields, Field{Name: name, Value: string(bytes.TrimSpace(trimmed[colon+1:])), Line: r.line})
	}
}

// readLine returns the next line without its "\n", or io.EOF.
func (r *Reader) readLine(max int) ([]byte, error) {
	line, err := r.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		// A long line: gather it, bounded.
		long := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull && len(long) <= max {
			line, err = r.r.ReadSlice('\n')
			long = append(long, line...)
		}
		line = long
	}
	if len(line) > 0 {
		r.line++
	}
	if len(line) > max+1 || (len(line) > max && line[len(line)-1] != '\n') {
		return nil, r.errorf(max+1, "line longer than %d bytes", max)
	}
	switch {
	case err == io.EOF && len(line) > 0:
		return line, nil // the last line, without "\n"
	case err != nil:
		return nil, err
	}
	return line[:len(line)-1], nil
}

// errorf returns a FormatError at column col of the current line.
func (r *Reader) errorf(col int, format string, args ...any) error {
	return &repo.FormatError{File: r.File, Line: r.line, Column: col, Err: fmt.Errorf(format, args...)}
}

// fieldError returns a FormatError at field f of file.
func fieldError(file string, f Field, format string, args ...any) error {
	return &repo.FormatError{File: file, Line: f.Line, Err: fmt.Errorf(f.Name+": "+format, args...)}
}
