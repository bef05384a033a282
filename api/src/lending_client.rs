//! [`Client`] calls of the lending routes (see [`crate::lending`]).

use mutua_protocol::lending::RequestId;
use mutua_protocol::{ListingId, PublicKey};

use crate::client::{as_publisher, Client, ClientError};
use crate::lending::*;

fn request_path(id: &RequestId, tail: &str) -> String {
    format!("/v1/requests/{}{tail}", id.to_hex())
}

impl Client {
    /// `PUT /v1/listings/{id}/lending`: how a hosted offer lends.
    pub fn set_lending(
        &self,
        publisher: Option<&str>,
        offer: &ListingId,
        settings: &LendingSettings,
    ) -> Result<LendingWritten, ClientError> {
        let path = format!("/v1/listings/{}/lending", offer.to_hex());
        self.send(
            as_publisher(self.agent.put(self.url(&path)), publisher),
            settings,
        )
    }

    /// `GET /v1/records/{author}/{id}/calendar`.
    pub fn calendar(
        &self,
        author: &PublicKey,
        offer: &ListingId,
        query: &CalendarQuery,
    ) -> Result<OfferCalendar, ClientError> {
        let path = format!("/v1/records/{author}/{}/calendar", offer.to_hex());
        let mut req = self.agent.get(self.url(&path));
        if let Some(from) = &query.from {
            req = req.query("from", from);
        }
        if let Some(to) = &query.to {
            req = req.query("to", to);
        }
        if let Some(quantity) = query.quantity {
            req = req.query("quantity", quantity.to_string());
        }
        self.call(req)
    }

    /// `POST /v1/requests`: ask for an offer as `publisher`.
    pub fn request(
        &self,
        publisher: Option<&str>,
        request: &NewRequest,
    ) -> Result<LendingWritten, ClientError> {
        let req = as_publisher(self.agent.post(self.url("/v1/requests")), publisher);
        self.send(req, request)
    }

    /// `PUT /v1/requests/{id}`: change a request not yet decided.
    pub fn update_request(
        &self,
        id: &RequestId,
        request: &NewRequest,
    ) -> Result<LendingWritten, ClientError> {
        self.send(self.agent.put(self.url(&request_path(id, ""))), request)
    }

    /// `DELETE /v1/requests/{id}`: the borrower cancels its request.
    pub fn cancel_request(&self, id: &RequestId) -> Result<LendingWritten, ClientError> {
        self.call(self.agent.delete(self.url(&request_path(id, ""))))
    }

    /// `GET /v1/requests`.
    pub fn requests(&self, query: &RequestsQuery) -> Result<Requests, ClientError> {
        let mut req = as_publisher(
            self.agent.get(self.url("/v1/requests")),
            query.publisher.as_deref(),
        );
        if let Some(direction) = query.direction {
            let name = match direction {
                Direction::Incoming => "incoming",
                Direction::Outgoing => "outgoing",
            };
            req = req.query("direction", name);
        }
        if query.pending {
            req = req.query("pending", "true");
        }
        self.call(req)
    }

    /// `POST /v1/requests/{id}/accept`.
    pub fn accept(
        &self,
        id: &RequestId,
        body: &AcceptRequest,
    ) -> Result<LendingWritten, ClientError> {
        let path = request_path(id, "/accept");
        self.send(self.agent.post(self.url(&path)), body)
    }

    /// `POST /v1/requests/{id}/decline`.
    pub fn decline(
        &self,
        id: &RequestId,
        body: &DeclineRequest,
    ) -> Result<LendingWritten, ClientError> {
        let path = request_path(id, "/decline");
        self.send(self.agent.post(self.url(&path)), body)
    }

    /// `POST /v1/requests/{id}/cancel`: the owner takes its acceptance back.
    pub fn cancel_acceptance(
        &self,
        id: &RequestId,
        body: &CancelAcceptance,
    ) -> Result<LendingWritten, ClientError> {
        let path = request_path(id, "/cancel");
        self.send(self.agent.post(self.url(&path)), body)
    }

    /// `POST /v1/requests/{id}/events`: a hand-over or a return.
    pub fn loan_event(
        &self,
        id: &RequestId,
        body: &NewLoanEvent,
    ) -> Result<LendingWritten, ClientError> {
        let path = request_path(id, "/events");
        self.send(self.agent.post(self.url(&path)), body)
    }
}
