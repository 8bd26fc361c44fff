// Evidence recorder: parametric enclosure for an Adafruit Feather RP2040 Adalogger,
// a MAX9814 electret microphone breakout and a LiPo cell, with a clothing clip.
//
// Layout (front = lid, back = floor with the clip):
//   lower layer: the LiPo cell, lying flat on the floor
//   upper layer: the Feather (USB end against end wall A at x = 0) and, beside it,
//                the MAX9814 module with its capsule facing the lid's microphone port
//   lid:         microphone port, button cap over the board's BOOT/record button (GP7),
//                light-pipe holes over the red LED (GP13) and the charge LED
//   end wall A:  USB opening     end wall B: microSD slot with a finger notch
//
// Render:   openscad -o recorder.stl hardware/enclosure/recorder.scad
// Options:  -D 'part="base"'  -D 'part="lid"'  -D 'part="button"'  -D 'part="print"'
//           -D battery_mAh=1000   -D wall=2.4   -D tol=0.3
// ECHO prints the outer size; test/hardware.test.ts checks the STL against it.
//
// Every position marked CHECK comes from typical datasheet or catalogue sizes, not from a
// measured board: measure your parts with calipers and set the numbers before printing.
// All sizes in millimetres.

/* [What to render] */
part = "assembled";        // "assembled" | "base" | "lid" | "button" | "print"

/* [Shell] */
wall = 2.0;                // wall, floor and lid thickness
tol = 0.4;                 // clearance around every part (each side)
corner_r = 3.0;            // outside corner radius
lid_tol = 0.25;            // clearance between the lid's lip and the walls
lip_h = 2.5;               // depth of the lid's lip inside the walls
lip_t = 1.2;               // thickness of the lip
ledge_w = 1.5;             // width of the ledge the board and module rest on

/* [Battery] */
battery_mAh = 400;         // 400 or 1000 pick a preset below; any other value uses battery_custom
// Preset cell sizes [length, width, thickness] of common formats: 502535 (~400 mAh) and
// 503450 (~1000 mAh). CHECK against your cell. battery_tab adds the protection board and leads.
battery_custom = [40, 25, 6];
battery_tab = 4;
battery = battery_mAh == 400 ? [35, 25, 5.0]
        : battery_mAh == 1000 ? [50, 34, 5.0]
        : battery_custom;
battery_l = battery[0] + battery_tab;
battery_w = battery[1];
battery_t = battery[2];
battery_clear = 1.0;       // room above the cell (1 mm foam tape holds the board on the cell)

/* [Feather RP2040 Adalogger] */
board_l = 50.8;            // Adafruit: 50.8 x 22.8 x 7 mm without headers
board_w = 22.8;
board_t = 1.6;             // PCB
board_top = 5.4;           // tallest part above the PCB (7 mm total less the PCB)
usb_w = 10.0;              // USB-C opening (the plug's metal shell is about 8.4 x 2.6)
usb_h = 4.5;
usb_y = board_w / 2;       // CHECK: centre of the USB socket across the board
usb_zc = 1.6;              // CHECK: centre of the socket above the PCB's top face
sd_w = 13.0;               // microSD slot opening (card 11 x 0.8)
sd_h = 3.0;
sd_y = board_w / 2;        // CHECK: centre of the card across the board
sd_zc = 1.0;               // CHECK: card centre above the PCB's top face (socket on top)
btn_x = 8.0;               // CHECK: BOOT button (the record button, GP7) from the USB end
btn_y = 5.0;               //        and from the board's outer long edge
btn_h = 1.5;               // CHECK: button top above the PCB
btn_hole_d = 5.0;
btn_proud = 0.6;           // how far the button cap stands out of the lid
led_x = 12.0;              // CHECK: red LED (GP13) from the USB end
led_y = 19.0;              //        and from the outer long edge
led_hole_d = 3.1;          // for a 3 mm light pipe
chg_x = 4.0;               // CHECK: charge LED
chg_y = 19.0;
chg_hole_d = 2.1;          // for a 2 mm light pipe

/* [MAX9814 microphone module] */
mic_l = 26.5;              // CHECK: module length (along the board)
mic_w = 16.0;              // CHECK: module width
mic_h = 8.0;               // CHECK: PCB plus capsule height
mic_gap = 1.0;             // gap between the board and the module
mic_x0 = (board_l - mic_l) / 2;   // module position along the board
mic_cap_x = 6.0;           // CHECK: capsule centre from the module's end
mic_cap_d = 9.8;           // CHECK: capsule diameter
port_hole_d = 1.3;         // microphone port: 7 holes over the capsule
port_ring_r = 2.4;

/* [Clip] */
clip_integrated = true;    // false: no printed clip (glue on a metal clip instead)
clip_t = 2.2;              // tongue thickness (PETG recommended)
clip_gap = 2.5;            // opening for the fabric
clip_w = 16.0;
clip_root = 8.0;           // length of the block joining the tongue to the case
clip_len_frac = 0.75;      // tongue length as a fraction of the case length

$fn = 32;

// ---------------------------------------------------------------- derived sizes
inner_l = max(board_l, battery_l + 2 * ledge_w) + 2 * tol;
inner_w = max(board_w + mic_gap + mic_w, battery_w + 2 * ledge_w) + 2 * tol;
bay_h = battery_t + battery_clear;                       // lower layer
upper_h = max(board_t + board_top, mic_h) + 1.0;         // upper layer
inner_h = bay_h + upper_h;
outer_l = inner_l + 2 * wall;
outer_w = inner_w + 2 * wall;
outer_h = inner_h + 2 * wall;                            // floor + layers + lid
clip_depth = clip_integrated ? clip_gap + clip_t : 0;
clip_l = outer_l * clip_len_frac;

// Board and module placement (absolute coordinates)
bx0 = wall + tol;                    // board's USB end
by0 = wall + tol;                    // board's outer long edge
bz0 = wall + bay_h;                  // underside of the PCB
pcb_top = bz0 + board_t;
lid_z = outer_h - wall;              // underside of the lid
mx0 = bx0 + mic_x0;
my0 = by0 + board_w + mic_gap;
cap_x = mx0 + mic_cap_x;
cap_y = my0 + mic_w / 2;
cap_top = bz0 + mic_h;

echo(str("OUTER_SIZE=", outer_l, ",", outer_w, ",", outer_h, ",", clip_depth, ",", btn_proud));
echo(str("BATTERY=", battery_mAh, "mAh ", battery_l, "x", battery_w, "x", battery_t));

assert(lid_z - (pcb_top + btn_h) > 1.0, "no room for the button cap's flange");
assert(cap_top < lid_z, "microphone module taller than the upper layer");

// ---------------------------------------------------------------- helpers
module rounded_box(l, w, h, r) {
    rr = min(r, l / 2 - 0.01, w / 2 - 0.01);
    hull() for (x = [rr, l - rr], y = [rr, w - rr]) translate([x, y, 0]) cylinder(r = rr, h = h);
}

module rounded_slot(w, h) {          // a rounded rectangle in the YZ plane, centred, along X
    rotate([0, 90, 0]) hull() for (s = [-1, 1])
        translate([0, s * (w - h) / 2, 0]) cylinder(d = h, h = 40, center = true);
}

// ---------------------------------------------------------------- base
module base() {
    difference() {
        union() {
            difference() {
                rounded_box(outer_l, outer_w, lid_z, corner_r);
                translate([wall, wall, wall]) cube([inner_l, inner_w, outer_h]);
            }
            // ledge ring the board and module rest on, above the battery
            // (it reaches 0.1 mm into the walls and floor so no faces merely touch)
            difference() {
                translate([wall - 0.1, wall - 0.1, wall - 0.1]) cube([inner_l + 0.2, inner_w + 0.2, bay_h + 0.1]);
                translate([wall + ledge_w, wall + ledge_w, 0]) cube([inner_l - 2 * ledge_w, inner_w - 2 * ledge_w, outer_h]);
            }
            if (clip_integrated) clip();
        }
        // battery lead notch in the ledge at the USB end
        translate([wall, by0 + board_w / 2 - 3, wall + bay_h - 2.5]) cube([ledge_w + 0.1, 6, 2.6]);
        // USB opening, end wall A
        translate([0, by0 + usb_y, pcb_top + usb_zc]) rounded_slot(usb_w, usb_h);
        // microSD slot and finger notch, end wall B
        translate([outer_l, by0 + sd_y, pcb_top + sd_zc]) rounded_slot(sd_w, sd_h);
        translate([outer_l + 2.5, by0 + sd_y, pcb_top + sd_zc]) rotate([90, 0, 0]) cylinder(d = 9, h = sd_w, center = true);
        // grooves for the lid's snap bumps
        for (x = [outer_l / 3, 2 * outer_l / 3], y = [wall, outer_w - wall])
            translate([x, y, lid_z - lip_h / 2]) rotate([0, 90, 0]) cylinder(d = 1.4, h = 6, center = true);
    }
}

// A cantilever clip on the back: a root block at end wall B, a tongue towards end wall A,
// and a bump near the tip that holds the fabric.
module clip() {
    y0 = (outer_w - clip_w) / 2;
    translate([outer_l - clip_root - 2, y0, -clip_gap]) cube([clip_root, clip_w, clip_gap + 0.01]);
    translate([outer_l - 2 - clip_l, y0, -clip_depth]) cube([clip_l, clip_w, clip_t]);
    translate([outer_l - 2 - clip_l + 4, y0, -clip_gap]) rotate([-90, 0, 0]) cylinder(r = 1.0, h = clip_w);
}

// ---------------------------------------------------------------- lid
module lid() {
    lip_l = inner_l - 2 * lid_tol;
    lip_w = inner_w - 2 * lid_tol;
    difference() {
        union() {
            translate([0, 0, lid_z]) rounded_box(outer_l, outer_w, wall, corner_r);
            // lip inside the walls
            translate([wall + lid_tol, wall + lid_tol, lid_z - lip_h]) difference() {
                cube([lip_l, lip_w, lip_h + 0.01]);
                translate([lip_t, lip_t, -1]) cube([lip_l - 2 * lip_t, lip_w - 2 * lip_t, lip_h + 2]);
            }
            // snap bumps on the lip's long sides
            for (x = [outer_l / 3, 2 * outer_l / 3], y = [wall + lid_tol, outer_w - wall - lid_tol])
                translate([x, y, lid_z - lip_h / 2]) rotate([0, 90, 0]) cylinder(d = 1.0, h = 5, center = true);
            // acoustic sleeve from the port down around the capsule
            translate([cap_x, cap_y, cap_top - 1.5]) difference() {
                cylinder(d = mic_cap_d + 2 * tol + 2.4, h = lid_z - cap_top + 1.5 + 0.01);
                translate([0, 0, -1]) cylinder(d = mic_cap_d + 2 * tol, h = lid_z - cap_top + 1.5 + 2);
            }
        }
        // microphone port
        translate([cap_x, cap_y, lid_z - 1]) {
            cylinder(d = port_hole_d, h = wall + 2);
            for (a = [0 : 60 : 359]) rotate([0, 0, a]) translate([port_ring_r, 0, 0]) cylinder(d = port_hole_d, h = wall + 2);
        }
        // button cap opening, LED and charge-LED light pipes
        translate([bx0 + btn_x, by0 + btn_y, lid_z - 1]) cylinder(d = btn_hole_d, h = wall + 2);
        translate([bx0 + led_x, by0 + led_y, lid_z - 1]) cylinder(d = led_hole_d, h = wall + 2);
        translate([bx0 + chg_x, by0 + chg_y, lid_z - 1]) cylinder(d = chg_hole_d, h = wall + 2);
    }
}

// ---------------------------------------------------------------- button cap
// A plunger from the BOOT button's top to btn_proud above the lid, with a flange under the lid.
module button_cap() {
    z0 = pcb_top + btn_h;
    translate([bx0 + btn_x, by0 + btn_y, z0]) {
        cylinder(d = btn_hole_d - 2 * 0.3, h = outer_h + btn_proud - z0);
        cylinder(d = btn_hole_d + 3, h = 0.8);
    }
}

// ---------------------------------------------------------------- parts
if (part == "assembled") {
    base();
    lid();
    button_cap();
} else if (part == "base") {
    base();
} else if (part == "lid") {
    translate([0, 0, outer_h]) mirror([0, 0, 1]) lid();      // upside down, ready to print
} else if (part == "button") {
    translate([0, 0, outer_h + btn_proud]) mirror([0, 0, 1]) button_cap();
} else if (part == "print") {
    base();
    translate([0, outer_w + 5, outer_h]) mirror([0, 0, 1]) lid();
    translate([0, 2 * outer_w + 10, outer_h + btn_proud]) mirror([0, 0, 1]) button_cap();
}
