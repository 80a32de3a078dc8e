//! Port 80: ACME HTTP-01 answers and a redirect to HTTPS for the names this gateway
//! serves (the Host header only, never a forwarding header); any other name is a 404, so
//! the gateway redirects nobody to a site that isn't its own.
//!
//! The control-plane runs ACME; the certificate authority fetches
//! `http://DOMAIN/.well-known/acme-challenge/TOKEN` from whichever pod its load balancer
//! picks, so the pending answers travel in the pushed table and every pod can give them.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use hopgate_table::Table;
use tokio::sync::watch;

use crate::{http::pages, ops::metrics::Metrics, tunnel::routing::RoutingTable};

const CHALLENGE_PREFIX: &str = "/.well-known/acme-challenge/";

/// The pushed table, for its pending challenge answers (`None`: a fixed development table,
/// which has none).
pub(crate) struct Challenges(pub(crate) Option<watch::Receiver<Arc<Table>>>);

impl Challenges {
    fn answer(&self, token: &str) -> Option<String> {
        let table = self.0.as_ref()?.borrow();
        table.challenge(token).map(str::to_owned)
    }
}

/// The names port 80 redirects: the gateway's main domain, one label under it (its
/// wildcard certificate), and the domains of the routing table.
pub(crate) struct Served {
    pub(crate) table: Arc<RoutingTable>,
    /// `HOP_SERVER_DOMAIN`, normalized.
    pub(crate) main_domain: String,
    pub(crate) metrics: Arc<Metrics>,
}

impl Served {
    fn redirects(&self, host: &str) -> bool {
        let under_main = host
            .split_once('.')
            .is_some_and(|(label, parent)| !label.is_empty() && parent == self.main_domain);
        host == self.main_domain || under_main || self.table.is_registered(host)
    }
}

pub(crate) async fn handle(
    req: HttpRequest,
    challenges: web::Data<Challenges>,
    served: web::Data<Served>,
) -> HttpResponse {
    if let Some(token) = req.path().strip_prefix(CHALLENGE_PREFIX) {
        return match challenges.answer(token) {
            // RFC 8555 §8.3: the key authorization, as is.
            Some(answer) => HttpResponse::Ok()
                .content_type("application/octet-stream")
                .body(answer),
            None => pages::error(
                &req,
                StatusCode::NOT_FOUND,
                "Not Found",
                "No such ACME challenge.",
            ),
        };
    }
    let Ok(host) = crate::host::normalize(crate::host::requested(&req)) else {
        served.metrics.rejected("bad_host");
        return pages::error(
            &req,
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "Missing or invalid Host header.",
        );
    };
    if !served.redirects(&host) {
        served.metrics.rejected("redirect_unknown_host");
        return pages::error(
            &req,
            StatusCode::NOT_FOUND,
            "Not Found",
            &format!("{host} is not served by this gateway."),
        );
    }
    let target = format!(
        "https://{host}{}",
        req.uri().path_and_query().map_or("/", |pq| pq.as_str())
    );
    HttpResponse::PermanentRedirect()
        .insert_header(("location", target))
        .finish()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use actix_web::{App, test};
    use hopgate_table::{Snapshot, TableMessage};

    use super::*;

    #[actix_web::test]
    async fn challenges_are_answered_from_the_table_and_the_rest_redirects() {
        let mut table = Table::new();
        let mut challenges = BTreeMap::new();
        challenges.insert("tok-1".to_owned(), "tok-1.thumbprint".to_owned());
        table
            .apply(TableMessage::Snapshot(Snapshot {
                epoch: "e".into(),
                version: 1,
                challenges,
                ..Snapshot::default()
            }))
            .unwrap();
        let (_keep, rx) = watch::channel(Arc::new(table));
        let served = Served {
            table: RoutingTable::new(),
            main_domain: "example.test".into(),
            metrics: Arc::new(Metrics::new()),
        };
        let app = test::init_service(
            App::new()
                .app_data(web::Data::new(Challenges(Some(rx))))
                .app_data(web::Data::new(served))
                .default_service(web::to(handle)),
        )
        .await;
        let get_on = |host: &str, path: &str| {
            test::TestRequest::get()
                .uri(path)
                .insert_header(("host", host))
                .to_request()
        };
        let get = |path: &str| get_on("app.example.test", path);
        let answer = test::call_service(&app, get("/.well-known/acme-challenge/tok-1")).await;
        assert_eq!(answer.status(), 200);
        assert_eq!(test::read_body(answer).await, "tok-1.thumbprint");
        let unknown = test::call_service(&app, get("/.well-known/acme-challenge/nope")).await;
        assert_eq!(unknown.status(), 404);
        let other = test::call_service(&app, get("/page?q=1")).await;
        assert_eq!(other.status(), 308);
        assert_eq!(
            other.headers().get("location").unwrap(),
            "https://app.example.test/page?q=1"
        );
        // Only the gateway's own names are redirected; forwarding headers name nothing.
        let apex = test::call_service(&app, get_on("example.test", "/")).await;
        assert_eq!(apex.status(), 308);
        for host in ["evil.example", "a.b.example.test", "example.test.evil"] {
            let other = test::call_service(&app, get_on(host, "/")).await;
            assert_eq!(other.status(), 404, "{host}");
        }
        let forwarded = test::TestRequest::get()
            .uri("/")
            .insert_header(("host", "evil.example"))
            .insert_header(("x-forwarded-host", "app.example.test"))
            .to_request();
        assert_eq!(test::call_service(&app, forwarded).await.status(), 404);
    }
}
