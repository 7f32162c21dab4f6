package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progress draws a one-line status ("\r" rewritten in place) on a terminal: blocks done,
// events per second and, when the total is known, the percentage and the ETA.
//
// It is hand-written rather than taken from a progress-bar library: one line, redrawn at
// most five times a second, is all replay needs, and owning it lets log lines written in
// between (Write) clear the line first and redraw it after, which libraries do not do.
//
// A nil *progress draws nothing; its methods may be called anyway.
type progress struct {
	mu       sync.Mutex
	w        io.Writer
	start    time.Time
	next     time.Time // earliest time of the next redraw
	line     string    // what is drawn now ("" when nothing is)
	width    int       // columns of the last line drawn
	lastEv   uint64
	lastAt   time.Time
	rate     float64 // events/s, smoothed
	finished bool
}

const progressEvery = 200 * time.Millisecond

func newProgress(w io.Writer) *progress {
	now := time.Now()
	return &progress{w: w, start: now, lastAt: now}
}

// due reports whether a redraw is due; cheap enough to call once per block.
func (p *progress) due(now time.Time) bool {
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.finished && now.After(p.next)
}

// update redraws the line: blocks done, events delivered so far, and the fraction done
// (frac < 0: unknown).
func (p *progress) update(now time.Time, blocks int, events uint64, frac float64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished {
		return
	}
	p.next = now.Add(progressEvery)
	if dt := now.Sub(p.lastAt).Seconds(); dt > 0 {
		inst := float64(events-p.lastEv) / dt
		if p.rate == 0 {
			p.rate = inst
		} else {
			p.rate = 0.7*p.rate + 0.3*inst
		}
	}
	p.lastEv, p.lastAt = events, now
	var b strings.Builder
	fmt.Fprintf(&b, "replay: %d blocks, %d events, %s events/s", blocks, events, humanRate(p.rate))
	if frac > 0 && frac <= 1 {
		el := now.Sub(p.start)
		eta := time.Duration(float64(el) * (1 - frac) / frac)
		fmt.Fprintf(&b, "  %s %3.0f%%  ETA %s", bar(frac, 20), 100*frac, eta.Round(time.Second))
	}
	p.drawLocked(b.String())
}

func (p *progress) drawLocked(s string) {
	pad := ""
	if n := p.width - len(s); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	fmt.Fprint(p.w, "\r"+s+pad)
	p.line, p.width = s, len(s)
}

func (p *progress) clearLocked() {
	if p.width > 0 {
		fmt.Fprint(p.w, "\r"+strings.Repeat(" ", p.width)+"\r")
	}
	p.width = 0
}

// finish erases the line for good (the summary follows).
func (p *progress) finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearLocked()
	p.line, p.finished = "", true
}

// Write lets log lines through: the status line is erased, the log line written, and the
// status redrawn under it.
func (p *progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := p.line
	p.clearLocked()
	n, err := p.w.Write(b)
	if line != "" && !p.finished {
		p.drawLocked(line)
	}
	return n, err
}

func bar(frac float64, width int) string {
	n := int(frac*float64(width) + 0.5)
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}

// humanRate formats a rate with a k/M suffix.
func humanRate(r float64) string {
	switch {
	case r >= 1e6:
		return fmt.Sprintf("%.2fM", r/1e6)
	case r >= 1e4:
		return fmt.Sprintf("%.1fk", r/1e3)
	}
	return fmt.Sprintf("%.0f", r)
}
