// Organisers' keys in the browser, with libsodium's JavaScript build (served from /static/vendor,
// built from the npm registry): a key pair made here, its secret half wrapped under a passphrase
// and saved by the organiser; a sealed export opened here; older data keys shared with a new
// reader. Nothing secret is ever sent: the key pages' only requests are for these scripts, and
// the forms they fill carry a public key or grants sealed to readers' public keys.
//
// The formats are those of petition/sealing.py and petition/sealed_exports.py, byte for byte:
// a file made here opens with `petition export open`, and one made there opens here.
// Words shown to people come from the page (data-message elements), in its language.
(function () {
  "use strict";
  var sodium = globalThis.sodium;
  if (!sodium || !sodium.ready) return;

  var PUBLIC = "petition-public-key-1:";
  var SECRET = "petition-secret-key-1:";
  var WRAPPED = "petition-wrapped-secret-key-1:";
  var BOX_VERSION = 1;
  var EXPORT_FORMAT = "petition-sealed-export";
  var FIELDS = ["first_name", "last_name", "role", "organisation"];
  var COLUMNS = FIELDS.concat(["publication", "confirmed_at"]);

  // An error whose `kind` names the data-message element that says it to people.
  function Problem(kind, detail) {
    this.kind = kind;
    this.detail = detail === undefined ? "" : String(detail);
  }

  function $(root, selector) {
    return root.querySelector(selector);
  }

  function say(root, kind, detail) {
    var out = $(root, "[data-role=problem]");
    var template = $(root, '[data-message="' + kind + '"]') || $(root, '[data-message="failed"]');
    out.textContent = template.textContent.replace("{detail}", detail || "");
    out.hidden = false;
    out.focus();
  }

  function quiet(root) {
    var out = $(root, "[data-role=problem]");
    out.hidden = true;
    out.textContent = "";
  }

  // --- encodings -----------------------------------------------------------------------------

  function b64url(bytes) {
    return sodium.to_base64(bytes, sodium.base64_variants.URLSAFE);
  }

  function unb64url(text) {
    var clean = text.replace(/\s+/g, "");
    try {
      return sodium.from_base64(clean, sodium.base64_variants.URLSAFE);
    } catch (e) {
      throw new Problem("cut");
    }
  }

  function b64(bytes) {
    return sodium.to_base64(bytes, sodium.base64_variants.ORIGINAL);
  }

  function unb64(text) {
    try {
      return sodium.from_base64(String(text), sodium.base64_variants.ORIGINAL);
    } catch (e) {
      throw new Problem("altered");
    }
  }

  // The first twelve letters of the key's base32 (RFC 4648), as `sealing.fingerprint` gives.
  function fingerprint(publicKey) {
    var alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    var out = "", bits = 0, value = 0;
    for (var i = 0; i < publicKey.length && out.length < 12; i++) {
      value = (value << 8) | publicKey[i];
      bits += 8;
      while (bits >= 5 && out.length < 12) {
        out += alphabet[(value >>> (bits - 5)) & 31];
        bits -= 5;
      }
    }
    return out;
  }

  function sameBytes(a, b) {
    return a.length === b.length && sodium.memcmp(a, b);
  }

  // --- keys ----------------------------------------------------------------------------------

  function derive(passphrase, salt) {
    return sodium.crypto_pwhash(
      sodium.crypto_secretbox_KEYBYTES,
      passphrase,
      salt,
      sodium.crypto_pwhash_OPSLIMIT_MODERATE,
      sodium.crypto_pwhash_MEMLIMIT_MODERATE,
      sodium.crypto_pwhash_ALG_ARGON2ID13
    );
  }

  // salt | nonce | secretbox(secret): what PyNaCl's SecretBox.encrypt writes after the salt.
  function wrap(secret, passphrase) {
    var salt = sodium.randombytes_buf(sodium.crypto_pwhash_SALTBYTES);
    var nonce = sodium.randombytes_buf(sodium.crypto_secretbox_NONCEBYTES);
    var box = sodium.crypto_secretbox_easy(secret, nonce, derive(passphrase, salt));
    var out = new Uint8Array(salt.length + nonce.length + box.length);
    out.set(salt, 0);
    out.set(nonce, salt.length);
    out.set(box, salt.length + nonce.length);
    return WRAPPED + b64url(out);
  }

  function isWrapped(text) {
    return text.trim().indexOf(WRAPPED) === 0;
  }

  function keyBytes(raw) {
    if (raw.length !== sodium.crypto_box_SECRETKEYBYTES) throw new Problem("cut");
    return raw;
  }

  // The secret key of a key file (or of a retyped recovery copy).
  function readSecret(text, passphrase) {
    text = text.trim();
    if (text.indexOf(SECRET) === 0) return keyBytes(unb64url(text.slice(SECRET.length)));
    if (text.indexOf(WRAPPED) !== 0) throw new Problem("not-a-key");
    if (!passphrase) throw new Problem("needs-passphrase");
    var raw = unb64url(text.slice(WRAPPED.length));
    var saltBytes = sodium.crypto_pwhash_SALTBYTES, nonceBytes = sodium.crypto_secretbox_NONCEBYTES;
    if (raw.length <= saltBytes + nonceBytes) throw new Problem("cut");
    var salt = raw.slice(0, saltBytes);
    var nonce = raw.slice(saltBytes, saltBytes + nonceBytes);
    try {
      return keyBytes(sodium.crypto_secretbox_open_easy(raw.slice(saltBytes + nonceBytes), nonce, derive(passphrase, salt)));
    } catch (e) {
      if (e instanceof Problem) throw e;
      throw new Problem("wrong-passphrase");
    }
  }

  function seal(publicKey, data) {
    var box = sodium.crypto_box_seal(data, publicKey);
    var out = new Uint8Array(box.length + 1);
    out[0] = BOX_VERSION;
    out.set(box, 1);
    return out;
  }

  // The box's content, or null when it does not open with this key pair.
  function unseal(publicKey, secret, box) {
    if (box.length < 1 || box[0] !== BOX_VERSION) return null;
    try {
      return sodium.crypto_box_seal_open(box.slice(1), publicKey, secret);
    } catch (e) {
      return null;
    }
  }

  function readFile(input) {
    var file = input.files && input.files[0];
    if (!file) return Promise.reject(new Problem("no-file"));
    return file.text();
  }

  function offer(link, name, type, text) {
    if (link.href && link.href.indexOf("blob:") === 0) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(new Blob([text], { type: type }));
    link.download = name;
  }

  // The wrapped key in groups of four, six groups a line: a copy to print and retype.
  function recoveryText(keyText) {
    var body = keyText.slice(WRAPPED.length);
    var lines = [WRAPPED];
    for (var i = 0; i < body.length; i += 24) {
      lines.push(body.slice(i, i + 24).replace(/(.{4})(?=.)/g, "$1 "));
    }
    return lines.join("\n");
  }

  // --- making a key --------------------------------------------------------------------------

  function setUpCreation(root) {
    var passphrase = $(root, "[data-role=passphrase]");
    var again = $(root, "[data-role=passphrase-again]");
    var make = $(root, "[data-role=make]");
    var made = $(root, "[data-role=made]");
    var saved = $(root, "[data-role=saved]");
    var use = $(root, "[data-role=use]");
    var target = document.getElementById(root.dataset.target);
    var minimum = Number(passphrase.getAttribute("minlength") || 12);
    var publicText = null;

    // Enter in a passphrase makes the key; it must not send the form around it.
    [passphrase, again].forEach(function (input) {
      input.addEventListener("keydown", function (event) {
        if (event.key === "Enter") {
          event.preventDefault();
          make.click();
        }
      });
    });

    make.addEventListener("click", function () {
      quiet(root);
      if (passphrase.value.length < minimum) return say(root, "short-passphrase");
      if (passphrase.value !== again.value) return say(root, "passphrases-differ");
      make.disabled = true;
      $(root, "[data-role=working]").hidden = false;
      // Let the page say it is working before Argon2id holds the thread for a few seconds.
      setTimeout(function () {
        try {
          var pair = sodium.crypto_box_keypair();
          var keyText = wrap(pair.privateKey, passphrase.value);
          sodium.memzero(pair.privateKey);
          var print = fingerprint(pair.publicKey);
          publicText = PUBLIC + b64url(pair.publicKey);
          $(root, "[data-role=fingerprint]").textContent = print;
          $(root, "[data-role=printed-fingerprint]").textContent = print;
          $(root, "[data-role=recovery]").textContent = recoveryText(keyText);
          offer($(root, "[data-role=download]"), "petition-" + print + ".key", "text/plain", keyText + "\n");
          offer($(root, "[data-role=download-public]"), "petition-" + print + ".pub", "text/plain", publicText + "\n");
          passphrase.value = again.value = "";
          made.hidden = false;
          $(root, "[data-role=made-title]").focus();
        } catch (e) {
          say(root, "failed", e && e.message);
        } finally {
          make.disabled = false;
          $(root, "[data-role=working]").hidden = true;
        }
      }, 30);
    });

    $(root, "[data-role=print]").addEventListener("click", function () {
      document.body.classList.add("printing-recovery");
      window.print();
      document.body.classList.remove("printing-recovery");
    });

    saved.addEventListener("change", function () {
      use.disabled = !saved.checked;
    });
    use.disabled = true;
    use.addEventListener("click", function () {
      if (!publicText || !saved.checked) return;
      target.value = publicText;
      if (root.dataset.submit !== undefined) target.form.requestSubmit();
      else $(root, "[data-role=used]").hidden = false;
    });
  }

  // --- opening an export ---------------------------------------------------------------------

  function grantsFor(file, publicKey, secret) {
    var keys = {};
    var mine = (file.grants || []).filter(function (grant) {
      return sameBytes(unb64(grant.reader), publicKey);
    });
    if (!mine.length) throw new Problem("not-a-reader", fingerprint(publicKey));
    mine.forEach(function (grant) {
      var opened = unseal(publicKey, secret, unb64(grant.sealed_secret));
      if (opened === null) throw new Problem("altered");
      keys[grant.key] = { secret: opened, public: sodium.crypto_scalarmult_base(opened) };
    });
    return keys;
  }

  function parseExport(text) {
    var file;
    try {
      file = JSON.parse(text);
    } catch (e) {
      throw new Problem("not-an-export");
    }
    if (!file || file.format !== EXPORT_FORMAT || !Array.isArray(file.rows)) throw new Problem("not-an-export");
    if (file.version !== 1) throw new Problem("other-version");
    return file;
  }

  // Every row as the signer typed it, or a Problem naming the rows that do not open.
  function openExport(text, secret) {
    var file = parseExport(text);
    var publicKey = sodium.crypto_scalarmult_base(secret);
    var keys = grantsFor(file, publicKey, secret);
    var rows = [], failed = [];
    file.rows.forEach(function (item, index) {
      var fields = {};
      FIELDS.forEach(function (field) { fields[field] = item[field]; });
      if (item.sealed) {
        var key = item.key === null || item.key === undefined ? undefined : keys[item.key];
        var opened = key ? unseal(key.public, key.secret, unb64(item.sealed)) : null;
        var payload = null;
        try {
          payload = opened ? JSON.parse(sodium.to_string(opened)) : null;
        } catch (e) {
          payload = null;
        }
        if (!payload || typeof payload !== "object") {
          failed.push(index + 1);
          return;
        }
        FIELDS.forEach(function (field) {
          fields[field] = typeof payload[field] === "string" ? payload[field] : null;
        });
      }
      fields.publication = String(item.publication);
      fields.confirmed_at = item.confirmed_at ? new Date(withZone(item.confirmed_at)) : null;
      rows.push(fields);
    });
    if (failed.length) {
      var shown = failed.slice(0, 10).join(", ") + (failed.length > 10 ? ", ..." : "");
      throw new Problem("rows-do-not-open", failed.length + " (" + shown + ")");
    }
    return { campaign: String(file.campaign), timeZone: String(file.time_zone || "UTC"), rows: rows };
  }

  function withZone(iso) {
    return /([zZ]|[+-]\d\d:\d\d)$/.test(iso) ? iso : iso + "Z";
  }

  // The wall clock of `moment` in `zone`, and its offset from UTC in minutes.
  function wallClock(moment, zone) {
    var parts = {};
    new Intl.DateTimeFormat("en-CA", {
      timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    }).formatToParts(moment).forEach(function (part) { parts[part.type] = part.value; });
    var seconds = Math.floor(moment.getTime() / 1000) * 1000;
    var asUtc = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
    return { parts: parts, offset: Math.round((asUtc - seconds) / 60000) };
  }

  function localText(moment, zone) {
    var p = wallClock(moment, zone).parts;
    return p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute + ":" + p.second;
  }

  function isoText(moment, zone) {
    var clock = wallClock(moment, zone), p = clock.parts, offset = clock.offset;
    var sign = offset < 0 ? "-" : "+", abs = Math.abs(offset);
    var zoneText = String(Math.floor(abs / 60)).padStart(2, "0") + ":" + String(abs % 60).padStart(2, "0");
    return p.year + "-" + p.month + "-" + p.day + "T" + p.hour + ":" + p.minute + ":" + p.second + sign + zoneText;
  }

  // As petition's CSV for programs (`petition export open --format csv`): byte-order mark,
  // column codes, CRLF, cells a spreadsheet would evaluate neutralised.
  function csvText(opened) {
    function cell(value) {
      if (value === null || value === undefined) return "";
      var text = String(value);
      return /[",\r\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
    }
    function neutral(value) {
      return typeof value === "string" && /^[=+\-@\t\r]/.test(value) ? "'" + value : value;
    }
    var lines = [COLUMNS.join(",")];
    opened.rows.forEach(function (row) {
      var cells = FIELDS.map(function (field) { return cell(neutral(row[field])); });
      cells.push(cell(row.publication));
      cells.push(row.confirmed_at ? localText(row.confirmed_at, opened.timeZone) : "");
      lines.push(cells.join(","));
    });
    return "\ufeff" + lines.join("\r\n") + "\r\n";
  }

  function jsonText(opened) {
    return JSON.stringify(opened.rows.map(function (row) {
      var item = {};
      FIELDS.forEach(function (field) { item[field] = row[field]; });
      item.publication = row.publication;
      item.confirmed_at = row.confirmed_at ? isoText(row.confirmed_at, opened.timeZone) : null;
      return item;
    }), null, 1) + "\n";
  }

  function setUpOpening(root) {
    var button = $(root, "[data-role=open]");
    button.addEventListener("click", function () {
      quiet(root);
      $(root, "[data-role=opened]").hidden = true;
      button.disabled = true;
      $(root, "[data-role=working]").hidden = false;
      Promise.all([readFile($(root, "[data-role=export]")), readFile($(root, "[data-role=key]"))])
        .then(function (texts) {
          return new Promise(function (resolve) { setTimeout(function () { resolve(texts); }, 30); });
        })
        .then(function (texts) {
          var passphrase = $(root, "[data-role=passphrase]").value;
          var secret = readSecret(texts[1], passphrase);
          var opened = openExport(texts[0], secret);
          sodium.memzero(secret);
          var name = opened.campaign + "-signatures";
          offer($(root, "[data-role=csv]"), name + ".csv", "text/csv", csvText(opened));
          offer($(root, "[data-role=json]"), name + ".json", "application/json", jsonText(opened));
          var count = $(root, "[data-role=count]");
          count.textContent = count.dataset.template.replace("{count}", String(opened.rows.length));
          $(root, "[data-role=opened]").hidden = false;
          count.focus();
        })
        .catch(function (e) {
          if (e instanceof Problem) say(root, e.kind, e.detail);
          else say(root, "failed", e && e.message);
        })
        .finally(function () {
          button.disabled = false;
          $(root, "[data-role=working]").hidden = true;
        });
    });
  }

  // --- sharing older data keys with new readers ----------------------------------------------

  // For each data key this reader can open and another current reader cannot, a grant sealed
  // to that reader; checked first: the opened secret must be the data key's own.
  function shareGrants(data, secret) {
    var publicKey = sodium.crypto_scalarmult_base(secret);
    var opened = {};
    data.grants.forEach(function (grant) {
      if (!sameBytes(unb64(grant.reader), publicKey)) return;
      var value = unseal(publicKey, secret, unb64(grant.sealed_secret));
      if (value !== null && sameBytes(sodium.crypto_scalarmult_base(value), unb64(grant.data_public_key))) {
        opened[grant.key] = value;
      }
    });
    if (!Object.keys(opened).length) throw new Problem("not-a-reader", fingerprint(publicKey));
    var lines = [];
    data.missing.forEach(function (want) {
      var value = opened[want.key];
      if (value) lines.push(want.key + " " + want.reader + " " + b64(seal(unb64(want.reader_public_key), value)));
    });
    return lines;
  }

  function setUpSharing(root) {
    var data = JSON.parse(document.getElementById(root.dataset.source).textContent);
    var button = $(root, "[data-role=share]");
    var target = document.getElementById(root.dataset.target);
    button.addEventListener("click", function () {
      quiet(root);
      button.disabled = true;
      $(root, "[data-role=working]").hidden = false;
      readFile($(root, "[data-role=key]"))
        .then(function (text) {
          return new Promise(function (resolve) { setTimeout(function () { resolve(text); }, 30); });
        })
        .then(function (text) {
          var secret = readSecret(text, $(root, "[data-role=passphrase]").value);
          var lines = shareGrants(data, secret);
          sodium.memzero(secret);
          if (!lines.length) throw new Problem("nothing-to-share");
          target.value = lines.join("\n");
          target.form.requestSubmit();
        })
        .catch(function (e) {
          if (e instanceof Problem) say(root, e.kind, e.detail);
          else say(root, "failed", e && e.message);
        })
        .finally(function () {
          button.disabled = false;
          $(root, "[data-role=working]").hidden = true;
        });
    });
  }

  sodium.ready.then(function () {
    var setUp = { create: setUpCreation, open: setUpOpening, share: setUpSharing };
    document.querySelectorAll("[data-keys]").forEach(function (root) {
      var start = setUp[root.dataset.keys];
      if (!start) return;
      start(root);
      root.hidden = false;
      document.querySelectorAll('[data-without-keys="' + root.dataset.keys + '"]').forEach(function (other) {
        other.hidden = true;
      });
    });
  });
})();
