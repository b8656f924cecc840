"""A client token belongs to one application: it sees, cancels and lists only that
application's payments; another application's payment is simply not found."""

from __future__ import annotations

from tests.application.conftest import bearer, checkout_ok, new_application, new_token
from tests.fixtures.factories import Merchant


async def test_a_client_token_sees_only_its_own_applications_payments(merchant: Merchant) -> None:
    shop = await new_application(merchant, name="Shop", defaultRedirectUrl="https://shop.example/back")
    kiosk = await new_application(merchant, name="Kiosk", defaultRedirectUrl="https://kiosk.example/back")
    shop_token = (await new_token(merchant, ["*"], shop["clientId"]))["token"]
    kiosk_token = (await new_token(merchant, ["*"], kiosk["clientId"]))["token"]
    theirs = await checkout_ok(merchant.http, kiosk_token, kiosk["clientId"])
    mine = await checkout_ok(merchant.http, shop_token, shop["clientId"])
    http, headers = merchant.http, bearer(shop_token)

    assert (await http.get(f"/api/payment/{mine['id']}", headers=headers)).status_code == 200
    for path in (f"/api/payment/{theirs['id']}", f"/payment/request/{theirs['id']}"):
        answer = await http.get(path, headers=headers)
        assert answer.status_code == 404, path
        assert answer.json()["error"]["type"] == "not_found"
    cancel = await http.post(f"/payment/request/{theirs['id']}/cancel", headers=headers)
    assert cancel.status_code == 404
    listed = await http.get("/payment/request", headers=headers)
    assert [p["id"] for p in listed.json()["data"]] == [mine["id"]]
    cursor = await http.get("/payment/request", params={"starting_after": theirs["id"]}, headers=headers)
    assert cursor.status_code == 422

    # the account's access token still sees both, and the kiosk's payment is untouched
    both = await http.get("/api/payments", headers=await merchant.headers())
    assert {p["id"] for p in both.json()["data"]} >= {mine["id"], theirs["id"]}
    kiosk_view = await http.get(f"/api/payment/{theirs['id']}", headers=bearer(kiosk_token))
    assert kiosk_view.json()["status"] == "pending"
