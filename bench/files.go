package bench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
)

// The files a report writes, besides its pictures.
const (
	MarkdownFile   = "report.md"
	JSONFile       = "report.json"
	DomainsCSVFile = "domains.csv"
	DevicesCSVFile = "devices.csv"
)

// WriteFiles writes the report into dir (created if needed): Markdown,
// JSON, the two CSV files and the pictures in the given format ("svg" or
// "png"; "" draws none). It returns every file's name, relative to dir.
func (r *Report) WriteFiles(dir, pictureFormat string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("bench: creating the report directory: %w", err)
	}
	var pictures []string
	if pictureFormat != "" {
		var err error
		if pictures, err = r.WritePictures(dir, pictureFormat); err != nil {
			return nil, err
		}
	}
	files := []struct {
		name  string
		write func(*bytes.Buffer) error
	}{
		{MarkdownFile, func(b *bytes.Buffer) error { return r.WriteMarkdown(b, pictures) }},
		{JSONFile, func(b *bytes.Buffer) error { return r.WriteJSON(b) }},
		{DomainsCSVFile, func(b *bytes.Buffer) error { return r.WriteDomainsCSV(b) }},
		{DevicesCSVFile, func(b *bytes.Buffer) error { return r.WriteDevicesCSV(b) }},
	}
	var names []string
	for _, f := range files {
		var buf bytes.Buffer
		if err := f.write(&buf); err != nil {
			return nil, fmt.Errorf("bench: writing %s: %w", f.name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, f.name), buf.Bytes(), 0o644); err != nil {
			return nil, fmt.Errorf("bench: writing the report: %w", err)
		}
		names = append(names, f.name)
	}
	return append(names, pictures...), nil
}
