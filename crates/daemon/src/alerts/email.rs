//! Alerts by email over SMTP (lettre): STARTTLS, implicit TLS, or plain to a local relay.

use lettre::{
    Message, SmtpTransport, Transport,
    message::{Mailbox, header::ContentType},
    transport::smtp::{
        authentication::Credentials,
        client::{Certificate, Tls, TlsParameters},
    },
};

use super::{Alert, EmailChannel, SmtpTls};

/// How long one SMTP conversation may take before the alert counts as not sent.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

pub fn send(channel: &EmailChannel, alert: &Alert) -> Result<(), String> {
    let mailbox = |address: &str| address.parse::<Mailbox>().map_err(|e| format!("`{address}` is not an email address: {e}"));
    let mut message = Message::builder().from(mailbox(&channel.from)?).subject(&alert.subject).header(ContentType::TEXT_PLAIN);
    for to in &channel.to {
        message = message.to(mailbox(to)?);
    }
    let body = format!("{}\n\n-- \nlifeboat on {}\n", alert.text, alert.host);
    let message = message.body(body).map_err(|e| format!("cannot build the message: {e}"))?;

    let tls = match channel.tls {
        SmtpTls::None => Tls::None,
        mode => {
            let mut params = TlsParameters::builder(channel.host.clone());
            if let Some(path) = &channel.cacert {
                let pem = std::fs::read(path).map_err(|e| format!("cannot read cacert {}: {e}", path.display()))?;
                params = params.add_root_certificate(Certificate::from_pem(&pem).map_err(|e| format!("cacert {}: {e}", path.display()))?);
            }
            let params = params.build_rustls().map_err(|e| format!("TLS settings for {}: {e}", channel.host))?;
            if mode == SmtpTls::Implicit { Tls::Wrapper(params) } else { Tls::Required(params) }
        }
    };
    let mut transport = SmtpTransport::builder_dangerous(&channel.host).port(channel.port).tls(tls).timeout(Some(TIMEOUT));
    if let (Some(user), Some(secret)) = (&channel.user, &channel.password) {
        transport = transport.credentials(Credentials::new(user.clone(), secret.read()?));
    }
    // The error names the server and what failed, never the credentials.
    transport.build().send(&message).map(|_| ()).map_err(|e| {
        let text = format!("{}:{}: {e}", channel.host, channel.port);
        if text.contains("certificate") || text.contains("UnknownIssuer") {
            format!("{text} (the server's certificate is not trusted: add cacert = \"ca.pem\" with its CA)")
        } else {
            text
        }
    })
}
