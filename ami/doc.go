// Package ami is an Asterisk Manager Interface client and probe: it logs in
// over TCP, sends Ping and CoreStatus, and turns the answers into a
// probe.Result.
//
// The wire format follows Asterisk's main/manager.c: on connect the server
// sends one banner line "Asterisk Call Manager/<AMI version>\r\n"; after that,
// actions and responses are blocks of "Key: Value\r\n" lines, each ended by an
// empty "\r\n" line. A response carries the ActionID of its action, so
// responses are matched by ActionID and unsolicited "Event:" messages in
// between are skipped.
package ami
