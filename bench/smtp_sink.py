"""Just enough of an SMTP server for the service's e-mail, for the example capture and the delivery
benchmark: keeps each message it accepts, and refuses recipients starting with `reject` for good."""

import email
import socketserver

received = []


class Smtp(socketserver.StreamRequestHandler):
    def handle(self):
        say = lambda line: self.wfile.write(line.encode() + b"\r\n")
        say("220 capture")
        while line := self.rfile.readline().decode():
            verb = line[:4].upper()
            if verb in ("EHLO", "HELO"):
                say("250 capture")
            elif verb == "RCPT" and "<reject" in line:
                say("550 no such mailbox")
            elif verb == "DATA":
                say("354 go on")
                lines = []
                while (data := self.rfile.readline()) not in (b".\r\n", b""):
                    lines.append(data)
                received.append(email.message_from_bytes(b"".join(lines)))
                say("250 kept")
            elif verb == "QUIT":
                say("221 bye")
                return
            else:
                say("250 ok")
