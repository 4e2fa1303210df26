package store

import (
	"maps"
	"slices"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// NewZapLogger returns a zap logger, as the etcd server and client want, that
// writes to l. etcd is chatty and logs routine events (a graceful shutdown
// among them) as errors, so every line is demoted one level: etcd's Info
// becomes Debug, Warn becomes Info, Error and above become Warn. A nil l
// gives a logger that discards everything.
func NewZapLogger(l hclog.Logger) *zap.Logger {
	if l == nil {
		return zap.NewNop()
	}
	return zap.New(&hclogCore{log: l})
}

// hclogCore is a zapcore.Core that forwards entries to an hclog.Logger.
type hclogCore struct {
	log    hclog.Logger
	fields []zapcore.Field
}

func demote(l zapcore.Level) hclog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return hclog.Trace
	case l == zapcore.InfoLevel:
		return hclog.Debug
	case l == zapcore.WarnLevel:
		return hclog.Info
	default:
		return hclog.Warn
	}
}

func (c *hclogCore) Enabled(l zapcore.Level) bool {
	return c.log.GetLevel() <= demote(l)
}

func (c *hclogCore) With(fields []zapcore.Field) zapcore.Core {
	all := make([]zapcore.Field, 0, len(c.fields)+len(fields))
	all = append(append(all, c.fields...), fields...)
	return &hclogCore{log: c.log, fields: all}
}

func (c *hclogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *hclogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	args := make([]any, 0, 2*len(enc.Fields)+2)
	if e.LoggerName != "" {
		args = append(args, "component", e.LoggerName)
	}
	for _, k := range slices.Sorted(maps.Keys(enc.Fields)) {
		args = append(args, k, enc.Fields[k])
	}
	c.log.Log(demote(e.Level), e.Message, args...)
	return nil
}

func (c *hclogCore) Sync() error { return nil }
