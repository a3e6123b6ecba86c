"""Just enough of an SMTP server for the service's e-mail, for the example capture, the delivery
benchmark and the fault scripts: keeps each message it accepts (with the envelope's recipients as
`message.envelope_to`), and refuses recipients starting with `reject` for good."""

import email
import socketserver

received = []


class Smtp(socketserver.StreamRequestHandler):
    def handle(self):
        say = lambda line: self.wfile.write(line.encode() + b"\r\n")  # noqa: E731
        say("220 capture")
        recipients = []
        while line := self.rfile.readline().decode(errors="replace"):
            verb = line[:4].upper()
            if verb in ("EHLO", "HELO"):
                say("250 capture")
            elif verb == "RCPT" and "<reject" in line:
                say("550 no such mailbox")
            elif verb == "RCPT":
                recipients.append(line.split(":", 1)[1].strip().strip("<>").lower())
                say("250 ok")
            elif verb == "DATA":
                say("354 go on")
                lines = []
                while (data := self.rfile.readline()) not in (b".\r\n", b""):
                    lines.append(data)
                message = email.message_from_bytes(b"".join(lines))
                message.envelope_to = tuple(recipients)
                recipients = []
                received.append(message)  # one append: atomic, whichever thread serves
                say("250 kept")
            elif verb == "QUIT":
                say("221 bye")
                return
            else:
                say("250 ok")
