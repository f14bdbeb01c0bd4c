package event

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// Writer prints events for `pbxha events`: a table (TIME, SEVERITY, KIND,
// SUMMARY; aligned per Flush, local time to the millisecond) or one JSON
// event per line.
type Writer struct {
	json   bool
	w      io.Writer
	tw     *tabwriter.Writer
	header bool
}

// NewWriter prints to w, as JSON lines when asJSON.
func NewWriter(w io.Writer, asJSON bool) *Writer {
	return &Writer{json: asJSON, w: w, tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
}

// Write prints e: a JSON line at once, a table row at the next Flush.
func (o *Writer) Write(e Event) error {
	if o.json {
		return json.NewEncoder(o.w).Encode(e)
	}
	if !o.header {
		fmt.Fprintln(o.tw, "TIME\tSEVERITY\tKIND\tSUMMARY")
		o.header = true
	}
	_, err := fmt.Fprintf(o.tw, "%s\t%s\t%s\t%s\n", e.Time.Local().Format("2006-01-02 15:04:05.000"), e.Severity, e.Kind, e.Summary)
	return err
}

// Flush prints the table rows written since the last Flush.
func (o *Writer) Flush() error {
	if o.json {
		return nil
	}
	return o.tw.Flush()
}
