//! The poll shortcut: polls are nearly all of a busy server's requests, so a request whose path
//! is the poller's prefix and one plain token goes straight to the poll service, around axum's
//! router. The router has the same route, with the same handler, and gets every other request,
//! including any poll path this module does not call plain (a percent-encoded token, a trailing
//! slash): those are answered exactly as before, only without the shortcut.
//!
//! What the router costs per request, and the shortcut saves: matching, the path parameters
//! (percent-decoded into reference-counted strings), the matched path, the boxed route service
//! cloned and the request body boxed. That was about a quarter of a poll's instructions
//! (`benches/serve_instructions.sh`).

use hyper::{Request, Response};
use std::task::{Context, Poll};

/// The token of `path` if it is `prefix` followed by one plain token (ASCII letters and digits,
/// as the server issues them): nothing to decode, so every reader of the path agrees on it.
pub fn plain_token<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let token = path.strip_prefix(prefix)?;
    (!token.is_empty() && token.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(token)
}

/// Sends a request whose path is `prefix` and a plain token to `hot`, any other to `rest`.
#[derive(Clone)]
pub struct Shortcut<H, R> {
    prefix: &'static str,
    hot: H,
    rest: R,
}

impl<H, R> Shortcut<H, R> {
    pub fn new(prefix: &'static str, hot: H, rest: R) -> Self {
        Shortcut { prefix, hot, rest }
    }
}

impl<H, R, B, T> tower::Service<Request<B>> for Shortcut<H, R>
where
    H: tower::Service<Request<B>, Response = Response<T>>,
    R: tower::Service<Request<B>, Response = Response<T>, Error = H::Error>,
{
    type Response = Response<T>;
    type Error = H::Error;
    type Future = futures_util::future::Either<H::Future, R::Future>;

    // Both must be ready, as `call` does not know yet which it will use. Both always are (the
    // router, and a service function); a layer that limits capacity belongs inside either.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        std::task::ready!(self.hot.poll_ready(cx))?;
        self.rest.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        use futures_util::future::Either;
        if plain_token(req.uri().path(), self.prefix).is_some() {
            Either::Left(self.hot.call(req))
        } else {
            Either::Right(self.rest.call(req))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use tower::ServiceExt;

    #[test]
    fn only_a_plain_token_after_the_prefix_is_taken() {
        let p = "/noauth/v1/challenge_poller/";
        assert_eq!(
            plain_token("/noauth/v1/challenge_poller/Ab12", p),
            Some("Ab12")
        );
        for path in [
            "/noauth/v1/challenge_poller/",
            "/noauth/v1/challenge_poller/Ab12/",
            "/noauth/v1/challenge_poller/Ab%31",
            "/noauth/v1/challenge_poller/a/b",
            "/noauth/v1/challenge_poller/a-b",
            "/noauth/v1/challenge_poller/é",
            "/noauth/v1/challenge_generator/alice",
            "/noauth/v1/challenge_pollerAb12",
            "/",
        ] {
            assert_eq!(plain_token(path, p), None, "{path}");
        }
    }

    #[tokio::test]
    async fn polls_go_to_the_hot_service_and_the_rest_to_the_router() {
        fn answering(
            name: &'static str,
        ) -> tower::util::BoxCloneService<Request<()>, Response<&'static str>, Infallible> {
            tower::util::BoxCloneService::new(tower::service_fn(
                move |_req: Request<()>| async move { Ok::<_, Infallible>(Response::new(name)) },
            ))
        }
        let svc = Shortcut::new("/p/", answering("hot"), answering("rest"));
        for (uri, want) in [
            ("/p/abc?wait=5", "hot"),
            ("/p/abc/", "rest"),
            ("/p/a%62c", "rest"),
            ("/healthz", "rest"),
        ] {
            let req = Request::builder().uri(uri).body(()).unwrap();
            let resp = svc.clone().oneshot(req).await.unwrap();
            assert_eq!(*resp.body(), want, "{uri}");
        }
    }
}
