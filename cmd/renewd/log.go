package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	legolog "github.com/go-acme/lego/v4/log"
	"go.uber.org/zap"
	"go.uber.org/zap/buffer"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"

	"github.com/renewd/renewd/internal/secret"
)

// newLogger builds the process logger: readable console lines on a
// terminal, JSON otherwise (journald, files), on stderr. lego's global
// logger is pointed at it once, here, at debug level: lego's chatter is
// useful when debugging and noise otherwise.
func newLogger(level, defaultLevel string) (*zap.Logger, error) {
	return newLoggerTo(os.Stderr, term.IsTerminal(int(os.Stderr.Fd())), level, defaultLevel)
}

// newLoggerTo is newLogger writing to w. Every line, at every level, goes
// through secret.Mask as it is written (maskingEncoder): lego logs what an
// exec DNS script prints and a provider's failed cleanup, renewd logs
// command output and errors, any of which may carry a credential.
func newLoggerTo(w io.Writer, console bool, level, defaultLevel string) (*zap.Logger, error) {
	if level == "" {
		level = defaultLevel
	}
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fail(exitUsage, "--log-level %q: use debug, info, warn or error", level)
	}
	var enc zapcore.Encoder
	if console {
		ec := zap.NewDevelopmentEncoderConfig()
		ec.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05")
		enc = zapcore.NewConsoleEncoder(ec)
	} else {
		ec := zap.NewProductionEncoderConfig()
		ec.EncodeTime = zapcore.ISO8601TimeEncoder
		enc = zapcore.NewJSONEncoder(ec)
	}
	log := zap.New(zapcore.NewCore(maskingEncoder{enc}, zapcore.Lock(zapcore.AddSync(w)), lvl))
	legolog.Logger = legoLogger{log.Named("lego").WithOptions(zap.AddCallerSkip(3)).Sugar()}
	return log, nil
}

// maskingEncoder masks secrets in each encoded line: the message, every
// field (strings, errors, values rendered by reflection, fields added with
// With) and stack traces alike, because it works on the finished line.
// secret.Mask knows the JSON-escaped form of every secret.
type maskingEncoder struct{ zapcore.Encoder }

func (e maskingEncoder) Clone() zapcore.Encoder { return maskingEncoder{e.Encoder.Clone()} }

func (e maskingEncoder) EncodeEntry(ent zapcore.Entry, fields []zapcore.Field) (*buffer.Buffer, error) {
	buf, err := e.Encoder.EncodeEntry(ent, fields)
	if err != nil {
		return nil, err
	}
	line := buf.String()
	if masked := secret.Mask(line); masked != line {
		buf.Reset()
		buf.AppendString(masked)
	}
	return buf, nil
}

// legoLogger adapts zap to lego's StdLogger. lego prefixes its lines with
// "[INFO] " or "[WARN] "; warnings stay warnings, the rest is debug. Fatal
// never exits: a library must not end the daemon.
type legoLogger struct{ s *zap.SugaredLogger }

func (l legoLogger) emit(msg string) {
	msg = strings.TrimRight(msg, "\n")
	if m, ok := strings.CutPrefix(msg, "[WARN] "); ok {
		l.s.Warn(m)
		return
	}
	msg = strings.TrimPrefix(msg, "[INFO] ")
	l.s.Debug(msg)
}

func (l legoLogger) Fatal(args ...any)                 { l.s.Error(fmt.Sprint(args...)) }
func (l legoLogger) Fatalln(args ...any)               { l.s.Error(fmt.Sprintln(args...)) }
func (l legoLogger) Fatalf(format string, args ...any) { l.s.Errorf(format, args...) }
func (l legoLogger) Print(args ...any)                 { l.emit(fmt.Sprint(args...)) }
func (l legoLogger) Println(args ...any)               { l.emit(fmt.Sprintln(args...)) }
func (l legoLogger) Printf(format string, args ...any) { l.emit(fmt.Sprintf(format, args...)) }
