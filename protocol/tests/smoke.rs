use mutua_protocol::fixtures::*;
use mutua_protocol::*;

#[test]
fn seal_open_round_trip() {
    let author = key(1);
    let record = seal(&author, &Payload::Offer(listing(&author, 7, 1))).unwrap();
    let opened = validate(record.bytes(), FIXTURE_NOW).unwrap();
    assert_eq!(opened, record);
    println!("{} bytes", record.bytes().len());
}
