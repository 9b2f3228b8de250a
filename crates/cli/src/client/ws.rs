//! The `/ws/view` WebSocket as a stream of View messages (the server's wire type), with the
//! session token sent in the upgrade request.

use anyhow::{Context, anyhow, bail};
use futures::StreamExt;
use lilt_server::wire::View;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// An open `/ws/view` socket.
pub(crate) struct ViewStream {
    socket: WebSocketStream<TcpStream>,
    authority: String,
}

impl ViewStream {
    pub(crate) async fn open(
        dial_host: &str,
        port: u16,
        authority: &str,
        token: &str,
    ) -> anyhow::Result<ViewStream> {
        let mut request = format!("ws://{authority}/ws/view")
            .into_client_request()
            .with_context(|| format!("bad address {authority}"))?;
        request.headers_mut().insert(
            lilt_server::security::TOKEN_HEADER,
            HeaderValue::from_str(token).context("the session token is not a header value")?,
        );
        let stream = TcpStream::connect((dial_host, port))
            .await
            .map_err(|_| anyhow!(super::not_running(authority)))?;
        // The first message holds the whole retained log, which may be large: the server is
        // the user's own lilt, so no size limit applies.
        let config = WebSocketConfig::default()
            .max_message_size(None)
            .max_frame_size(None);
        let socket = match tokio_tungstenite::client_async_with_config(
            request,
            stream,
            Some(config),
        )
        .await
        {
            Ok((socket, _)) => socket,
            Err(WsError::Http(resp)) if resp.status().as_u16() == 401 => bail!(
                "the lilt on {authority} refused the session token: it belongs to another lilt"
            ),
            Err(e) => bail!("cannot open the view stream of the lilt on {authority}: {e}"),
        };
        Ok(ViewStream {
            socket,
            authority: authority.to_owned(),
        })
    }

    /// The next View message; `None` when lilt closed the stream (it stopped).
    pub(crate) async fn next(&mut self) -> anyhow::Result<Option<View>> {
        loop {
            let Some(msg) = self.socket.next().await else {
                return Ok(None);
            };
            match msg {
                Ok(Message::Text(text)) => {
                    return serde_json::from_str(text.as_str())
                        .map(Some)
                        .with_context(|| {
                            format!(
                                "the lilt on {} sent a view that is not the JSON lilt serves",
                                self.authority
                            )
                        });
                }
                Ok(Message::Close(_)) => return Ok(None),
                Ok(_) => continue,
                Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => return Ok(None),
                Err(WsError::Protocol(_) | WsError::Io(_)) => return Ok(None),
                Err(e) => bail!(
                    "the view stream of the lilt on {} failed: {e}",
                    self.authority
                ),
            }
        }
    }
}
