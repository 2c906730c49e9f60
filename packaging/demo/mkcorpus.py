#!/usr/bin/python3
"""mkcorpus: deterministic, realistic French mailboxes for the migrabox demo.

  mkcorpus.py SEED COUNT > spec.json

Writes a seed spec for tests/integ/imaptool.py: folders with French names (nested, accented,
with '&'), multipart messages with text, HTML and attachments, encoded-word subjects, flags and
keywords, dates spread over 2012-2024, an empty folder and an unsubscribed one.
"""
import base64
import json
import random
import sys
from email.header import Header
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, make_msgid
from datetime import datetime, timedelta, timezone

FOLDERS = [
    ("INBOX", True, 0.40),
    ("Sent", True, 0.15),
    ("Drafts", True, 0.03),
    ("Clients/Dupont SARL", True, 0.08),
    ("Clients/Martin & Fils", True, 0.06),
    ("Factures/2019", True, 0.05),
    ("Factures/2020", True, 0.05),
    ("Projets/Été 2018", True, 0.06),
    ("Archives 2015", True, 0.07),
    ("Newsletters", False, 0.05),
]
EMPTY = ("Boîte à idées", True)

PEOPLE = ["Jean Dupont", "Marie Curie", "Paul Martin", "Élodie Lefèvre", "François Brunet",
          "Chloé Bernard", "Noël Garnier", "Zoé Faure"]
SUBJECTS = ["Réunion de lundi", "Devis n°{n}", "Facture {n} — échéance", "Compte rendu du {d}",
            "Re: Planning été", "Photos de l'événement", "Votre commande {n} est expédiée",
            "Invitation : séminaire à Lyon", "Relance : contrat signé ?", "Bonne année {y} !",
            "Tarifs {y}", "Question sur le dossier Dupont"]
BODIES = ["Bonjour,\n\nVoici les éléments demandés. N'hésitez pas à revenir vers moi.\n\n"
          "Cordialement,\n{who}\n",
          "Salut,\n\nOn se voit à 14h ? J'apporte le café.\n\n{who}\n",
          "Madame, Monsieur,\n\nVeuillez trouver ci-joint le document. Pièce jointe : {att}.\n\n"
          "Bien à vous,\n{who}\n"]


def addr(name):
    local = (name.lower().replace(" ", ".").replace("é", "e").replace("è", "e")
             .replace("ç", "c").replace("ë", "e").replace("ö", "o").replace("É", "e"))
    return f"{Header(name, 'utf-8').encode()} <{local}@exemple.test>"


def message(rng, n):
    who, to = rng.sample(PEOPLE, 2)
    date = datetime(2012, 1, 1, tzinfo=timezone.utc) + timedelta(
        seconds=rng.randrange(0, 13 * 365 * 86400))
    tz = timezone(timedelta(hours=rng.choice([0, 1, 2, -5, 9])))
    date = date.astimezone(tz).replace(microsecond=0)
    subj = rng.choice(SUBJECTS).format(n=1000 + n, d=date.strftime("%d/%m"), y=date.year)
    kind = rng.random()
    att = None
    if kind < 0.25:
        msg = MIMEMultipart("mixed")
        body = rng.choice(BODIES).format(who=who, att="document.pdf")
        msg.attach(MIMEText(body, "plain", "utf-8"))
        size = rng.choice([8_000, 40_000, 120_000, 400_000]) if rng.random() > 0.05 else 2_000_000
        data = bytes(rng.getrandbits(8) for _ in range(size))
        att = MIMEApplication(data, "pdf", Name=f"facture-{n}.pdf")
        att.add_header("Content-Disposition", "attachment", filename=f"facture-{n}.pdf")
        msg.attach(att)
    elif kind < 0.45:
        msg = MIMEMultipart("alternative")
        body = rng.choice(BODIES).format(who=who, att="aucune")
        msg.attach(MIMEText(body, "plain", "utf-8"))
        msg.attach(MIMEText("<p>" + body.replace("\n", "<br>") + "</p>", "html", "utf-8"))
    else:
        msg = MIMEText(rng.choice(BODIES).format(who=who, att="aucune"), "plain", "utf-8")
    msg["From"] = addr(who)
    msg["To"] = addr(to)
    msg["Subject"] = Header(subj, "utf-8")
    msg["Date"] = format_datetime(date)
    if rng.random() > 0.03:  # a few messages without Message-ID, as some old clients wrote them
        msg["Message-ID"] = make_msgid(idstring=str(n), domain="exemple.test")
    flags = []
    if rng.random() < 0.8:
        flags.append("\\Seen")
    if rng.random() < 0.15:
        flags.append("\\Answered")
    if rng.random() < 0.08:
        flags.append("\\Flagged")
    if rng.random() < 0.05:
        flags.append("$Label1")
    return {"content_b64": base64.b64encode(msg.as_bytes()).decode(), "flags": flags,
            "internaldate": date.isoformat()}


def main():
    seed, count = int(sys.argv[1]), int(sys.argv[2])
    rng = random.Random(seed)
    spec = {"folders": []}
    n = 0
    for name, sub, share in FOLDERS:
        msgs = []
        for _ in range(max(1, int(count * share))):
            msgs.append(message(rng, n))
            n += 1
        spec["folders"].append({"name": name, "subscribe": sub, "messages": msgs})
    spec["folders"].append({"name": EMPTY[0], "subscribe": EMPTY[1]})
    json.dump(spec, sys.stdout)


if __name__ == "__main__":
    main()
