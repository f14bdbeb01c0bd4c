package amitest

import (
	"fmt"
	"strings"
	"time"
)

// The functions below render messages exactly as Asterisk's main/manager.c
// does: astman_send_response_full for Reply, action_ping, action_corestatus,
// action_coresettings, and the FullyBooted event sent after a login that asked
// for events.

// Banner is the greeting line, "Asterisk Call Manager/<AMI version>\r\n".
func Banner(st Status) string {
	return "Asterisk Call Manager/" + orDefault(st.AMIVersion, "9.0.0") + "\r\n"
}

// Reply is a plain response: Response, ActionID when the action had one,
// Message.
func Reply(response, id, message string) string {
	var b strings.Builder
	b.WriteString("Response: " + response + "\r\n")
	if id != "" {
		b.WriteString("ActionID: " + id + "\r\n")
	}
	b.WriteString("Message: " + message + "\r\n\r\n")
	return b.String()
}

// Pong is the answer to Ping at time now.
func Pong(id string, now time.Time) string {
	return fmt.Sprintf("Response: Success\r\n%sPing: Pong\r\nTimestamp: %d.%06d\r\n\r\n",
		idLine(id), now.Unix(), now.Nanosecond()/1000)
}

// CoreStatus is the answer to CoreStatus.
func CoreStatus(id string, st Status) string {
	loc := st.Location
	if loc == nil {
		loc = time.UTC
	}
	start, reload := st.Startup.In(loc), st.Reload.In(loc)
	var b strings.Builder
	b.WriteString("Response: Success\r\n" + idLine(id))
	if !st.Legacy {
		b.WriteString("CoreStartupDate: " + start.Format("2006-01-02") + "\r\n")
	}
	b.WriteString("CoreStartupTime: " + start.Format("15:04:05") + "\r\n")
	if !st.Legacy {
		b.WriteString("CoreReloadDate: " + reload.Format("2006-01-02") + "\r\n")
	}
	b.WriteString("CoreReloadTime: " + reload.Format("15:04:05") + "\r\n")
	fmt.Fprintf(&b, "CoreCurrentCalls: %d\r\n", st.CurrentCalls)
	if st.ProcessedCalls >= 0 && !st.Legacy {
		fmt.Fprintf(&b, "CoreProcessedCalls: %d\r\n", st.ProcessedCalls)
	}
	b.WriteString("\r\n")
	return b.String()
}

// CoreSettings is the answer to CoreSettings.
func CoreSettings(id string, st Status) string {
	return "Response: Success\r\n" + idLine(id) +
		"AMIversion: " + orDefault(st.AMIVersion, "9.0.0") + "\r\n" +
		"AsteriskVersion: " + orDefault(st.AsteriskVersion, "20.5.0") + "\r\n" +
		"SystemName: \r\n" +
		"CoreMaxCalls: 0\r\n" +
		"CoreMaxLoadAvg: 0.000000\r\n" +
		"CoreRunUser: asterisk\r\n" +
		"CoreRunGroup: asterisk\r\n" +
		"CoreMaxFilehandles: 0\r\n" +
		"CoreRealTimeEnabled: No\r\n" +
		"CoreCDRenabled: Yes\r\n" +
		"CoreHTTPenabled: No\r\n" +
		"\r\n"
}

// FullyBooted is the event Asterisk sends right after a login with events on.
func FullyBooted(st Status, now time.Time) string {
	return fmt.Sprintf("Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: %d\r\nLastReload: %d\r\nStatus: Fully Booted\r\n\r\n",
		max(0, int64(now.Sub(st.Startup)/time.Second)), max(0, int64(now.Sub(st.Reload)/time.Second)))
}

// DeviceStateEvent is an ordinary call-related event.
func DeviceStateEvent() string {
	return "Event: DeviceStateChange\r\nPrivilege: call,all\r\nDevice: PJSIP/1001\r\nState: INUSE\r\n\r\n"
}

func idLine(id string) string {
	if id == "" {
		return ""
	}
	return "ActionID: " + id + "\r\n"
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// CommandOutput is Asterisk's answer (13.x and later) to Action: Command:
// Success with one Output field per line, or, for a command the CLI does
// not know, Error with the CLI's complaint.
func CommandOutput(id, cmd string) string {
	if strings.HasPrefix(cmd, "no such") || cmd == "" {
		return "Response: Error\r\n" + idLine(id) + "Message: Command output follows\r\n" +
			"Output: No such command '" + cmd + "' (type 'core show help " + cmd + "' for other possible commands)\r\n\r\n"
	}
	return "Response: Success\r\n" + idLine(id) + "Message: Command output follows\r\n" +
		"Output: ran " + cmd + "\r\nOutput: done\r\n\r\n"
}

// CoreShowCalls is the answer to Action: Command "core show calls"
// (main/cli.c handle_showcalls, no maxcalls set): the active calls and
// the calls processed, each with Asterisk's plural.
func CoreShowCalls(id string, st Status) string {
	ess := func(n int) string {
		if n == 1 {
			return ""
		}
		return "s"
	}
	processed := max(st.ProcessedCalls, 0)
	return "Response: Success\r\n" + idLine(id) + "Message: Command output follows\r\n" +
		fmt.Sprintf("Output: %d active call%s\r\n", st.CurrentCalls, ess(st.CurrentCalls)) +
		fmt.Sprintf("Output: %d call%s processed\r\n\r\n", processed, ess(processed))
}

// CoreShowChannels is the answer to CoreShowChannels at time now
// (main/manager.c action_coreshowchannels): a list acknowledgement, one
// CoreShowChannel event per channel — here one answered inbound PJSIP
// channel per current call, each up for a second — and the completion
// event with the count.
func CoreShowChannels(id string, st Status, now time.Time) string {
	var b strings.Builder
	b.WriteString("Response: Success\r\n" + idLine(id) + "EventList: start\r\nMessage: Channels will follow\r\n\r\n")
	base := now.Unix()
	for i := range st.CurrentCalls {
		uid := fmt.Sprintf("%d.%d", base, i+1)
		fmt.Fprintf(&b, "Event: CoreShowChannel\r\n%s"+
			"Channel: PJSIP/caller-%08x\r\nChannelState: 6\r\nChannelStateDesc: Up\r\n"+
			"CallerIDNum: caller\r\nCallerIDName: <unknown>\r\nConnectedLineNum: <unknown>\r\nConnectedLineName: <unknown>\r\n"+
			"Language: en\r\nAccountCode: \r\nContext: from-external\r\nExten: 1000\r\nPriority: 2\r\n"+
			"Uniqueid: %s\r\nLinkedid: %s\r\n"+
			"Application: Echo\r\nApplicationData: \r\nDuration: 00:00:01\r\nBridgeId: \r\n\r\n",
			idLine(id), i+1, uid, uid)
	}
	fmt.Fprintf(&b, "Event: CoreShowChannelsComplete\r\n%sEventList: Complete\r\nListItems: %d\r\n\r\n", idLine(id), st.CurrentCalls)
	return b.String()
}
