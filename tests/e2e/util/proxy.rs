//! A TCP proxy the test controls: it forwards to a gateway until told to
//! cut every connection (a transport drop the client did not choose), and
//! can be pointed at another node for the reconnect.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// One forwarded connection and the way to cut it.
type Link = (JoinHandle<()>, tokio::sync::oneshot::Sender<()>);

/// A cuttable TCP proxy on a free loopback port.
pub struct CutProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    target: Arc<Mutex<SocketAddr>>,
    links: Arc<Mutex<Vec<Link>>>,
    accept: JoinHandle<()>,
}

impl CutProxy {
    /// Starts forwarding to `target`.
    pub async fn start(target: SocketAddr) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let target = Arc::new(Mutex::new(target));
        let links: Arc<Mutex<Vec<Link>>> = Arc::default();
        let accept = {
            let (target, links) = (target.clone(), links.clone());
            tokio::spawn(async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    let to = *target.lock().unwrap();
                    let (cut_tx, cut_rx) = tokio::sync::oneshot::channel::<()>();
                    let link = tokio::spawn(async move {
                        let Ok(mut server) = TcpStream::connect(to).await else {
                            return;
                        };
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            // A reset both ways, as a dropped network looks.
                            _ = cut_rx => {
                                let _ = client.set_zero_linger();
                                let _ = server.set_zero_linger();
                            }
                        }
                    });
                    let mut links = links.lock().unwrap();
                    links.retain(|(link, _)| !link.is_finished());
                    links.push((link, cut_tx));
                }
            })
        };
        CutProxy {
            addr,
            target,
            links,
            accept,
        }
    }

    /// `http://127.0.0.1:PORT` of the proxy.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Drops every connection through the proxy, both ways, at once, as
    /// soon as one is open (a long-polling client is between two requests
    /// for a moment after each answer).
    pub async fn cut(&self) {
        let deadline = tokio::time::Instant::now() + super::WAIT;
        loop {
            {
                let mut links = self.links.lock().unwrap();
                if links.iter().any(|(link, _)| !link.is_finished()) {
                    for (_, cut) in links.drain(..) {
                        let _ = cut.send(());
                    }
                    return;
                }
            }
            assert!(tokio::time::Instant::now() < deadline, "no connection to cut");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// New connections go to `target` from now on.
    pub fn retarget(&self, target: SocketAddr) {
        *self.target.lock().unwrap() = target;
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.accept.abort();
        for (link, _) in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }
}
